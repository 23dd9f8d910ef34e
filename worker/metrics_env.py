"""The multiprocess metrics folder (PROMETHEUS_MULTIPROC_DIR), arranged before prometheus_client.

prometheus_client picks its value storage when it is first imported, from the environment, so
this module must never import it: `worker/app.py` calls `prepare_multiprocess_env` before any
module that does.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("newsworker.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    """The multiprocess metrics folder, when multiprocess mode is on."""
    value = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return Path(value) if value else None


def prepare_multiprocess_env(*, metrics_port: int | None) -> Path | None:
    """Turn multiprocess mode on (a private temp folder) when a worker will serve metrics.

    Must run before prometheus_client is imported; an existing PROMETHEUS_MULTIPROC_DIR wins.
    """
    existing = multiprocess_dir()
    if existing is not None:
        existing.mkdir(parents=True, exist_ok=True)
        return existing
    if metrics_port is None:
        return None
    if "prometheus_client" in sys.modules:
        log.warning("prometheus_client already imported: metrics stay single-process")
        return None
    folder = Path(tempfile.mkdtemp(prefix="newsworker-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def clear_multiprocess_dir() -> int:
    """Remove metric files left by an earlier run (the main process, before forking)."""
    folder = multiprocess_dir()
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("*.db"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
