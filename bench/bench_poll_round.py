"""Poll-round benchmark: 2,000 local feeds, round 1 all 200, round 2 90% 304 and 10% changed.

Run from the repo root:
    .venv/bin/python bench/bench_poll_round.py [--feeds 2000] [--threads 1]

Prints feeds/s of the second round and CPU ms per unchanged (304) feed, measured with the
Fetcher alone (time.process_time; the server runs in a subprocess, so its CPU is excluded).
`--threads N` polls with N threads sharing one Fetcher (CPU per feed is then only reported as
the round's total CPU / feeds).

`--pipeline [--database-url URL]` measures the whole poll of an unchanged feed instead, in this
process: `poll_feed` with its feed lock and host slot in Redis (db 9, flushed), the conditional
GET, and the schedule written to the database (a temporary SQLite file by default), every feed
answering 304. That is what an unchanged feed costs a worker, Celery aside. The Celery round is
`bench/bench_fleet_round.py`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tempfile

from bench.bench_fleet_round import eager_runtime, redis_db9, register_feeds
from newsworker.stages.fetch import Fetcher, FetchPolicy
from newsworker.stages.records import FetchResult
from newsworker.storage.db import dispose_engines
from newsworker.storage.migrate import upgrade
from newsworker.tasks.runtime import set_runtime
from newsworker.worker.running import run_once


def start_server(changed_every: int) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("feed_server.py")),
         "--changed-every", str(changed_every)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline().split()
    return server, int(line[1])


def poll_round(
    fetcher: Fetcher, urls: list[str], etags: dict[str, str | None], threads: int
) -> tuple[list[FetchResult], float, float, float]:
    """Fetch every URL once; returns results, wall s, total CPU s and CPU s spent on 304s."""
    not_modified_cpu = 0.0

    def one(url: str) -> FetchResult:
        nonlocal not_modified_cpu
        cpu = time.process_time()
        result = fetcher.fetch(url, etag=etags.get(url))
        if threads == 1 and result.not_modified:
            not_modified_cpu += time.process_time() - cpu
        return result

    wall, cpu = time.perf_counter(), time.process_time()
    if threads == 1:
        results = [one(url) for url in urls]
    else:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, urls))
    return results, time.perf_counter() - wall, time.process_time() - cpu, not_modified_cpu


def pipeline_round(feeds: int, database_url: str | None) -> None:
    """Poll every feed twice through poll_feed (all 304 the second time); print CPU per feed."""

    server, port = start_server(changed_every=10 * feeds)  # feed 0 only changes
    try:
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp, redis_db9():
            url = database_url or f"sqlite:///{tmp}/poll.db"
            upgrade(url)
            register_feeds(url, [f"http://127.0.0.1:{port}/feed/{n}" for n in range(feeds)])
            runtime = eager_runtime(url, Path(tmp) / "stories.jsonl", "bench:poll")
            run_once(runtime, all_feeds=True)
            wall, cpu = time.perf_counter(), time.process_time()
            summary = run_once(runtime, all_feeds=True)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            set_runtime(None)
            dispose_engines()
        print(f"whole poll, {'SQLite' if database_url is None else database_url.split(':')[0]}")
        print(f"round 2: {summary.feeds} feeds, {summary.not_modified} unchanged")
        print(f"round 2: {wall:.2f} s wall, {summary.feeds / wall:.0f} feeds/s")
        print(f"round 2: {cpu * 1000 / summary.feeds:.3f} CPU ms per feed (whole poll)")
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--changed-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pipeline", action="store_true", help="the whole poll (see above)")
    parser.add_argument("--database-url", help="with --pipeline; default a temporary SQLite")
    args = parser.parse_args()
    if args.pipeline:
        pipeline_round(args.feeds, args.database_url)
        return
    server, port = start_server(args.changed_every)
    try:
        urls = [f"http://127.0.0.1:{port}/feed/{n}" for n in range(args.feeds)]
        policy = FetchPolicy(allow_private_addresses=True)
        with Fetcher(policy) as fetcher:
            first, wall1, _, _ = poll_round(fetcher, urls, {}, args.threads)
            etags = {r.url: r.etag for r in first}
            second, wall2, cpu2, nm_cpu = poll_round(fetcher, urls, etags, args.threads)
        unchanged = sum(1 for r in second if r.not_modified)
        changed = len(second) - unchanged
        print(f"feeds: {len(urls)}  threads: {args.threads}")
        print(f"round 1 (all 200): {wall1:.2f} s, {len(urls) / wall1:.0f} feeds/s")
        print(f"round 2: {unchanged} unchanged (304), {changed} changed (200)")
        print(f"round 2: {wall2:.2f} s wall, {len(urls) / wall2:.0f} feeds/s")
        print(f"round 2: {cpu2 * 1000 / len(urls):.3f} CPU ms per feed (all feeds)")
        if args.threads == 1 and unchanged:
            print(f"round 2: {nm_cpu * 1000 / unchanged:.3f} CPU ms per unchanged feed")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
