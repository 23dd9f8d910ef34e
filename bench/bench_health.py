"""How long `newsworker health` checks take (a container probe must stay within a few seconds).

Usage: .venv/bin/python bench/bench_health.py [DATABASE_URL] [REDIS_URL]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsworker.storage.migrate import upgrade
from newsworker.worker.health import HealthTargets, run_health_checks


def main() -> None:
    database_url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/h.db"
    redis_url = sys.argv[2] if len(sys.argv) > 2 else None
    upgrade(database_url)
    targets = HealthTargets(database_url, broker_url=redis_url, redis_url=redis_url)
    for liveness in (True, False):
        times = []
        for _ in range(20):
            started = time.perf_counter()
            run_health_checks(targets, liveness_only=liveness)
            times.append(time.perf_counter() - started)
        kind = "liveness" if liveness else "full"
        median_ms, max_ms = statistics.median(times) * 1000, max(times) * 1000
        print(f"{kind}: median {median_ms:.1f} ms, max {max_ms:.1f} ms")


if __name__ == "__main__":
    main()
