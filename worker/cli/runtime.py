"""The process runtime a command runs the pipeline with, built over a ready store."""

from __future__ import annotations

from newsworker.config.settings import Settings
from newsworker.tasks.runtime import Runtime, build_runtime, set_runtime
from newsworker.worker.cli.context import Logs, celery_app, console
from newsworker.worker.cli.store import store_settings


def runtime_for(cfg: Settings) -> Runtime:
    """Build the process runtime for these settings (and make it the process-wide one)."""
    rt = build_runtime(cfg)
    set_runtime(rt)
    return rt


def runtime(*, logs: Logs = "off") -> Runtime:
    """The process runtime over a ready store."""
    return runtime_for(store_settings(logs=logs))


def refresh_profile_stories(cfg: Settings) -> None:
    """Recent stories that mention changed profiles are re-published with the new versions."""
    runtime_for(cfg)
    refresh = celery_app().tasks["newsworker.refresh_profile_stories"]
    if cfg.eager:
        count = refresh()
        if count:
            console.print(f"{count} recent stories will be re-published with fresher profiles")
    else:
        refresh.delay()
