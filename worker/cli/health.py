"""`newsworker health` and `newsworker status`: the health checks, for probes and for people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from newsworker.config.settings import Settings
from newsworker.worker.cli.context import console, settings
from newsworker.worker.feed_activity import busiest_feeds, failing_feeds
from newsworker.worker.health import HealthReport, HealthTargets, run_health_checks
from newsworker.worker.health_checks import HealthPolicy, health_engine
from newsworker.worker.output import echo_json, styled

app = typer.Typer(add_completion=False)


def health_policy(cfg: Settings) -> HealthPolicy:
    """Map settings onto the health thresholds."""
    return HealthPolicy(
        max_queue_depth=cfg.health_max_queue_depth,
        max_outbox_backlog=cfg.health_max_outbox_backlog,
        max_outbox_age_seconds=cfg.health_max_outbox_age_seconds,
        max_poll_silence_seconds=cfg.health_max_poll_silence_seconds,
        overdue_after_seconds=max(900, cfg.min_interval_seconds),
    )


def health_targets(cfg: Settings) -> HealthTargets:
    """What the health checks probe, from settings."""
    return HealthTargets(
        database_url=cfg.database_url,
        broker_url=cfg.broker_url,
        redis_url=cfg.redis_url,
        stream_name=cfg.stream_name,
    )


def checks_table(report: HealthReport, title: str = "health") -> Table:
    """The checks as a rich table for people."""
    table = Table("check", "ok", "detail", title=title)
    for check in report.checks:
        mark = styled("ok", "green") if check.ok else styled("FAIL", "red")
        table.add_row(check.name, mark, check.detail)
    return table


@app.command()
def health(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for machines.")] = False,
    liveness: Annotated[
        bool,
        typer.Option(
            "--liveness", help="Only check the database and Redis answer (container probe)."
        ),
    ] = False,
) -> None:
    """Check database, Redis, queues, outbox, stream, feeds and last poll; exit 1 if unhealthy."""
    cfg = settings()
    report = run_health_checks(health_targets(cfg), health_policy(cfg), liveness_only=liveness)
    if as_json:
        echo_json(report.as_dict())
    else:
        console.print(checks_table(report))
        console.print(styled("healthy", "green") if report.ok else styled("unhealthy", "red"))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="Rows in the busiest and failing tables.")] = 10,
) -> None:
    """Show health, the busiest feeds (articles in 24 h) and the most failing feeds."""
    cfg = settings()
    report = run_health_checks(health_targets(cfg), health_policy(cfg))
    console.print(checks_table(report, title="newsworker status"))
    if not any(c.name == "migrations" and c.ok for c in report.checks):
        raise typer.Exit(1)
    engine = health_engine(cfg.database_url, 3.0)
    try:
        with Session(engine) as session:
            since = datetime.now(UTC) - timedelta(hours=24)
            busy = busiest_feeds(session, since=since, limit=limit)
            failing = failing_feeds(session, limit=limit)
    finally:
        engine.dispose()
    busy_table = Table("id", "url", "status", "articles (24 h)", title="busiest feeds")
    for row in busy:
        busy_table.add_row(str(row.feed_id), row.url, row.status, str(row.count))
    failing_table = Table("id", "url", "status", "errors", "last error", title="most failing feeds")
    for row in failing:
        failing_table.add_row(
            str(row.feed_id), row.url, row.status, str(row.count), (row.last_error or "-")[:80]
        )
    console.print(busy_table)
    console.print(failing_table)
    if not report.ok:
        raise typer.Exit(1)
