"""What every command shares: the consoles, settings (with logging set up), error exits, Celery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import typer
from rich.console import Console

from newsworker.config.settings import Settings, SettingsError, load_settings
from newsworker.worker.logs import configure_logging

if TYPE_CHECKING:
    from celery import Celery

# How a command wants logging: untouched, quiet (warnings and up) or at the configured level.
Logs = Literal["off", "quiet", "on"]

console = Console()
err = Console(stderr=True)


def settings(*, logs: Logs = "off") -> Settings:
    """Load settings (or stop with one readable line naming the variable), then set up logging."""
    try:
        cfg = load_settings()
    except SettingsError as e:
        # One plain line (no wrapping), so logs and scripts see the whole message.
        typer.echo(f"newsworker: invalid configuration: {e}", err=True)
        raise typer.Exit(2) from e
    if logs != "off":
        configure_logging(cfg, quiet=logs == "quiet")
    return cfg


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error line and return the Exit to raise."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def celery_app() -> Celery:
    """Our Celery app with its tasks registered, made current so `.delay()` reaches our broker."""
    # Imported on use: the app reads and caches settings on import (so only after settings()
    # has validated them), and it prepares Prometheus' multiprocess folder, which must happen
    # before its task modules import prometheus_client. Commands without Celery skip loading it.
    from newsworker.worker.app import app  # noqa: PLC0415

    app.loader.import_default_modules()  # the task modules the app includes
    return app
