"""What every command shares: the consoles, settings (with logging set up), error exits, Celery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from newsworker.config.settings import Settings, SettingsError, load_settings
from newsworker.worker.cli.boundary import CliError, debug_wanted
from newsworker.worker.logs import configure_logging
from newsworker.worker.output import console, err, register_secrets

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["Logs", "celery_app", "console", "err", "fail", "settings"]

# How a command wants logging: untouched, quiet (warnings and up) or at the configured level.
Logs = Literal["off", "quiet", "on"]


def settings(*, logs: Logs = "off") -> Settings:
    """Load settings (or stop with one readable line naming the variable), then set up logging."""
    try:
        cfg = load_settings(**({"log_level": "DEBUG"} if debug_wanted() else {}))
    except SettingsError as e:
        raise CliError(f"invalid configuration: {e}", code=2) from e
    register_secrets(cfg.secret_values())
    if logs != "off":
        configure_logging(cfg, quiet=logs == "quiet" and not debug_wanted())
    return cfg


def fail(message: str, code: int = 1) -> CliError:
    """The error to raise for a failure a person can fix; the boundary prints it as one line."""
    return CliError(f"error: {message}", code)


def celery_app() -> Celery:
    """Our Celery app with its tasks registered, made current so `.delay()` reaches our broker."""
    # Imported on use: the app reads and caches settings on import (so only after settings()
    # has validated them), and it prepares Prometheus' multiprocess folder, which must happen
    # before its task modules import prometheus_client. Commands without Celery skip loading it.
    from newsworker.worker.app import app  # noqa: PLC0415

    app.loader.import_default_modules()  # the task modules the app includes
    return app
