"""Operations commands: health, status, metrics, prune (registered on the main CLI)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from newsworker.config.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from newsworker.worker.health import HealthPolicy, HealthReport, HealthTargets

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse '30d', '12h', '90m', '45s', '2w' (a bare number means days)."""
    match = _DURATION.match(text.lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a positive duration like 30d, 12h or 90m")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def health_policy(settings: Settings) -> HealthPolicy:
    """Map settings onto the health thresholds."""
    from newsworker.worker.health import HealthPolicy

    return HealthPolicy(
        max_queue_depth=settings.health_max_queue_depth,
        max_outbox_backlog=settings.health_max_outbox_backlog,
        max_outbox_age_seconds=settings.health_max_outbox_age_seconds,
        max_poll_silence_seconds=settings.health_max_poll_silence_seconds,
        overdue_after_seconds=max(900, settings.min_interval_seconds),
    )


def health_targets(settings: Settings) -> HealthTargets:
    """What the health checks probe, from settings."""
    from newsworker.worker.health import HealthTargets

    return HealthTargets(
        database_url=settings.database_url,
        broker_url=settings.broker_url,
        redis_url=settings.redis_url,
        stream_name=settings.stream_name,
    )


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as e:
        typer.echo(f"newsworker: invalid configuration: {e}", err=True)
        raise typer.Exit(2) from e


def checks_table(report: HealthReport, title: str = "health") -> Table:
    """The checks as a rich table for people."""
    table = Table("check", "ok", "detail", title=title)
    for check in report.checks:
        mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(check.name, mark, check.detail)
    return table


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
    from newsworker.worker.health import run_health_checks

    cfg = _settings()
    report = run_health_checks(health_targets(cfg), health_policy(cfg), liveness_only=liveness)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), default=str))
    else:
        console = Console()
        console.print(checks_table(report))
        console.print("[green]healthy[/green]" if report.ok else "[red]unhealthy[/red]")
    if not report.ok:
        raise typer.Exit(1)


def status(
    limit: Annotated[int, typer.Option(help="Rows in the busiest and failing tables.")] = 10,
) -> None:
    """Show health, the busiest feeds (articles in 24 h) and the most failing feeds."""
    from sqlmodel import Session

    from newsworker.worker.health import (
        busiest_feeds,
        failing_feeds,
        health_engine,
        run_health_checks,
    )

    cfg = _settings()
    console = Console()
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


def metrics(
    port: Annotated[
        int | None,
        typer.Option(help="Port to serve /metrics on (default NEWSWORKER_METRICS_PORT)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",  # noqa: S104
) -> None:
    """Serve Prometheus metrics: the workers' multiprocess files if shared, plus store gauges."""
    from newsworker.worker.metrics_server import serve_forever

    cfg = _settings()
    chosen = port or cfg.metrics_port or 9101
    Console(stderr=True).print(
        f"serving metrics on http://{host}:{chosen}/metrics", highlight=False
    )
    serve_forever(port=chosen, host=host, database_url=cfg.database_url)


def prune(
    older_than: Annotated[
        str | None, typer.Option(help="Age like 30d, 12h (default NEWSWORKER_RETENTION_DAYS).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """Delete old articles, stories, sent deliveries and feed errors in batches, safely."""
    from sqlmodel import Session

    from newsworker.storage.db import get_engine
    from newsworker.storage.retention import prune as prune_store

    cfg = _settings()
    try:
        age = parse_duration(older_than) if older_than else timedelta(days=cfg.retention_days)
    except ValueError as e:
        Console(stderr=True).print(f"error: --older-than {e}", highlight=False)
        raise typer.Exit(2) from e
    with Session(get_engine(cfg.database_url), expire_on_commit=False) as session:
        report = prune_store(session=session, older_than=age, batch_size=batch_size)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    Console().print(
        f"pruned rows older than {report.cutoff:%Y-%m-%d %H:%M}Z: {report.articles} articles, "
        f"{report.stories} stories, {report.outbox_events} outbox events, "
        f"{report.deliveries} deliveries, {report.feed_errors} feed errors "
        f"({report.batches} batches)",
        highlight=False,
    )


def register_ops_commands(app: typer.Typer) -> None:
    """Add the operations commands to the main CLI."""
    app.command()(health)
    app.command()(status)
    app.command()(metrics)
    app.command()(prune)
