"""`newsworker metrics` and `newsworker prune`: serve Prometheus metrics, delete old rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from sqlmodel import Session

from newsworker.storage.db import get_engine
from newsworker.storage.retention import prune as prune_store
from newsworker.worker.cli.boundary import CliError
from newsworker.worker.cli.context import console, err, settings
from newsworker.worker.metrics_server import serve_forever
from newsworker.worker.output import echo_json

app = typer.Typer(add_completion=False)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse '30d', '12h', '90m', '45s', '2w' (a bare number means days)."""
    match = _DURATION.match(text.lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration like 30d, 12h or 90m")
    try:
        age = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        datetime.now(UTC) - age
    except OverflowError as e:
        raise ValueError(f"{text!r} reaches back before the year 1") from e
    return age


@app.command()
def metrics(
    port: Annotated[
        int | None,
        typer.Option(help="Port to serve /metrics on (default NEWSWORKER_METRICS_PORT)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",  # noqa: S104
) -> None:
    """Serve Prometheus metrics: the workers' multiprocess files if shared, plus store gauges."""
    cfg = settings()
    chosen = port or cfg.metrics_port or 9101
    err.print(f"serving metrics on http://{host}:{chosen}/metrics", highlight=False)
    serve_forever(port=chosen, host=host, database_url=cfg.database_url)


@app.command()
def prune(
    older_than: Annotated[
        str | None, typer.Option(help="Age like 30d, 12h (default NEWSWORKER_RETENTION_DAYS).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """Delete old articles, stories, sent deliveries and feed errors in batches, safely."""
    cfg = settings()
    try:
        age = parse_duration(older_than) if older_than else timedelta(days=cfg.retention_days)
    except ValueError as e:
        raise CliError(f"error: --older-than {e}", code=2) from e
    with Session(get_engine(cfg.database_url), expire_on_commit=False) as session:
        report = prune_store(session=session, older_than=age, batch_size=batch_size)
    if as_json:
        echo_json(report.as_dict())
        return
    console.print(
        f"pruned rows older than {report.cutoff:%Y-%m-%d %H:%M}Z: {report.articles} articles, "
        f"{report.stories} stories, {report.outbox_events} outbox events, "
        f"{report.deliveries} deliveries, {report.feed_errors} feed errors "
        f"({report.batches} batches)",
        highlight=False,
    )
