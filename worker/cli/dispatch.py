"""`newsworker dispatch`: enqueue one poll per due feed on the broker, from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from newsworker.worker.cli.context import celery_app, console, fail, settings
from newsworker.worker.cli.runtime import runtime_for
from newsworker.worker.cli.store import prepare_store

app = typer.Typer(add_completion=False)


@app.command()
def dispatch(
    all_feeds: Annotated[
        bool, typer.Option("--all", help="Every active feed, due or not.")
    ] = False,
) -> None:
    """Enqueue one poll per due feed on the broker, and return."""
    cfg = settings()
    if cfg.eager:
        raise fail("NEWSWORKER_BROKER_URL is not set: use `newsworker run --once` in embedded mode")
    runtime_for(prepare_store(cfg))
    dispatch_due_feeds = celery_app().tasks["newsworker.dispatch_due_feeds"]
    count = dispatch_due_feeds(all_feeds=all_feeds)
    console.print(f"enqueued {count} polls")
