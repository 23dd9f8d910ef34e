"""`newsworker run`: poll, process and publish in this process, once or on the feeds' schedules."""

from __future__ import annotations

from typing import Annotated

import typer

from newsworker.storage.run_lock import StoreBusy
from newsworker.worker.cli.context import err, fail
from newsworker.worker.cli.runtime import runtime
from newsworker.worker.running import run_loop, run_once

app = typer.Typer(add_completion=False)


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Poll due feeds once, publish, and exit.")
    ] = False,
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every active feed now.")] = False,
) -> None:
    """Poll, process and publish in this process (eager); in a loop on the feeds' schedules."""
    rt = runtime(logs="on")
    try:
        if once:
            summary = run_once(rt, all_feeds=all_feeds, console=err)
            err.print(summary.table())
            return
        run_loop(rt, console=err)
    except StoreBusy as e:
        raise fail(str(e)) from e
