"""`newsworker worker` and `newsworker beat`: the Celery processes, with our settings.

This module imports no task or runtime module: the Celery app must be loaded first (see
`celery_app`), so that a worker's metrics go to the multiprocess folder it prepares.
"""

from __future__ import annotations

from typing import Annotated

import typer

from newsworker.worker.cli.context import celery_app, fail, settings

app = typer.Typer(add_completion=False)

# Celery parses the rest of the command line itself.
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(context_settings=PASS_THROUGH)
def worker(
    ctx: typer.Context,
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = "dispatch,poll,publish",
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Run a Celery worker with our settings (extra options go to `celery worker`)."""
    cfg = settings(logs="on")
    if cfg.eager:
        raise fail("NEWSWORKER_BROKER_URL is not set: a worker needs a broker (redis://...)")
    argv = ["worker", "--queues", queues, "--loglevel", cfg.log_level]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    celery_app().worker_main([*argv, *ctx.args])


@app.command(context_settings=PASS_THROUGH)
def beat(ctx: typer.Context) -> None:
    """Run the scheduler (celery beat with a RedBeat lock: one active, others on hot standby)."""
    cfg = settings(logs="on")
    if cfg.eager:
        raise fail("NEWSWORKER_BROKER_URL is not set: beat needs a broker (redis://...)")
    celery_app().start(["beat", "--loglevel", cfg.log_level, *ctx.args])
