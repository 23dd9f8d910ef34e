"""`newsworker db ...`: apply migrations and report the database's revision."""

from __future__ import annotations

from typing import Annotated

import typer

from newsworker.storage.migrate import current_revision, head_revision, upgrade
from newsworker.worker.cli.context import console, settings

app = typer.Typer(help="Database migrations.", no_args_is_help=True, add_completion=False)


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (to head by default)."""
    cfg = settings()
    upgrade(cfg.database_url, revision)
    console.print(f"database at {current_revision(cfg.database_url)}")


@app.command("current")
def db_current() -> None:
    """Print the database's migration revision, and whether it is at head."""
    cfg = settings()
    current, head = current_revision(cfg.database_url), head_revision()
    console.print(
        f"current {current or 'none'}; head {head}" + ("" if current == head else " (behind)")
    )
    if current != head:
        raise typer.Exit(1)
