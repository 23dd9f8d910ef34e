"""The process runtime a command runs the pipeline with, built over a ready store."""

from __future__ import annotations

from newsworker.config.settings import Settings
from newsworker.tasks.runtime import Runtime, build_runtime, set_runtime
from newsworker.worker.cli.context import Logs
from newsworker.worker.cli.store import store_settings


def runtime_for(cfg: Settings) -> Runtime:
    """Build the process runtime for these settings (and make it the process-wide one)."""
    rt = build_runtime(cfg)
    set_runtime(rt)
    return rt


def runtime(*, logs: Logs = "off") -> Runtime:
    """The process runtime over a ready store."""
    return runtime_for(store_settings(logs=logs))
