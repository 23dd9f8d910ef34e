"""Health checks against real stores: SQLite and PostgreSQL, and a real Redis for queues/stream."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlmodel import Session
from typer.testing import CliRunner

from newsworker.storage.db import create_db_engine
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import ArticleRecord, Delivery, Feed, FeedStatus, OutboxEvent
from newsworker.worker.cli import app as cli_app
from newsworker.worker.health import HealthPolicy, HealthTargets, run_health_checks

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def migrated_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def _checks(report: object) -> dict[str, object]:
    return {c.name: c for c in report.checks}  # type: ignore[attr-defined]


def _add(database_url: str, *rows: object) -> None:
    engine = create_db_engine(database_url, pool=False)
    with Session(engine, expire_on_commit=False) as session:
        for row in rows:
            session.add(row)
            session.flush()
        session.commit()
    engine.dispose()


def test_a_fresh_migrated_store_in_embedded_mode_is_healthy(migrated_url: str) -> None:
    report = run_health_checks(HealthTargets(database_url=migrated_url), now=NOW)
    checks = _checks(report)
    assert report.ok, report.as_dict()
    assert {
        "database",
        "migrations",
        "broker",
        "redis",
        "outbox_backlog",
        "outbox_oldest_age",
    } <= set(checks)
    assert {"feeds_overdue", "feeds_failing", "feeds_disabled", "last_successful_poll"} <= set(
        checks
    )
    assert checks["broker"].detail.startswith("not configured")  # type: ignore[attr-defined]


def test_an_unmigrated_store_is_unhealthy(database_url: str) -> None:
    report = run_health_checks(HealthTargets(database_url=database_url), now=NOW)
    checks = _checks(report)
    assert not report.ok
    assert checks["database"].ok  # type: ignore[attr-defined]
    assert not checks["migrations"].ok  # type: ignore[attr-defined]
    assert "db upgrade" in checks["migrations"].detail  # type: ignore[attr-defined]


def test_an_unreachable_database_fails_fast() -> None:
    started = time.monotonic()
    report = run_health_checks(
        HealthTargets(database_url="postgresql://nobody@127.0.0.1:1/none"),
        HealthPolicy(connect_timeout_seconds=1),
    )
    assert time.monotonic() - started < 5
    assert not report.ok
    assert not _checks(report)["database"].ok  # type: ignore[attr-defined]


def test_outbox_backlog_age_and_overdue_feeds_fail_their_thresholds(migrated_url: str) -> None:
    event = OutboxEvent(
        story_id="s1",
        revision=1,
        event="created",
        idempotency_key="s1:1",
        created_at=NOW - timedelta(hours=2),
    )
    _add(migrated_url, event)
    assert event.id is not None
    _add(
        migrated_url,
        Delivery(event_id=event.id, sink="jsonl", next_attempt_at=NOW),
        Delivery(event_id=event.id, sink="redis", next_attempt_at=NOW),
        Feed(
            url="http://127.0.0.1/a",
            next_poll_at=NOW - timedelta(hours=3),
            last_success_at=NOW - timedelta(hours=5),
        ),
        Feed(url="http://127.0.0.1/b", status=FeedStatus.DISABLED, error_count=9),
        Feed(
            url="http://127.0.0.1/c",
            status=FeedStatus.FAILING,
            next_poll_at=NOW + timedelta(hours=1),
        ),
    )
    policy = HealthPolicy(
        max_outbox_backlog=1, max_outbox_age_seconds=600, max_poll_silence_seconds=3600
    )
    report = run_health_checks(HealthTargets(database_url=migrated_url), policy, now=NOW)
    checks = _checks(report)
    assert not report.ok
    assert checks["outbox_backlog"].value == 2 and not checks["outbox_backlog"].ok  # type: ignore[attr-defined]
    assert checks["outbox_oldest_age"].value == 7200.0  # type: ignore[attr-defined]
    assert not checks["outbox_oldest_age"].ok  # type: ignore[attr-defined]
    assert checks["feeds_overdue"].value == 1 and not checks["feeds_overdue"].ok  # type: ignore[attr-defined]
    assert checks["feeds_disabled"].value == 1 and checks["feeds_disabled"].ok  # type: ignore[attr-defined]
    assert checks["feeds_failing"].value == 1  # type: ignore[attr-defined]
    assert checks["last_successful_poll"].value == 18000.0  # type: ignore[attr-defined]
    assert not checks["last_successful_poll"].ok  # type: ignore[attr-defined]

    relaxed = HealthPolicy(
        max_outbox_backlog=10,
        max_outbox_age_seconds=10_000,
        max_poll_silence_seconds=86400,
        max_overdue_share=1.0,
    )
    assert run_health_checks(HealthTargets(database_url=migrated_url), relaxed, now=NOW).ok


@pytest.mark.redis
def test_queue_depths_stream_length_and_group_lag(sqlite_url: str, redis_url: str) -> None:
    upgrade(sqlite_url)
    client = redis.Redis.from_url(redis_url)
    client.rpush("poll", *[b"{}"] * 5)
    client.rpush("poll\x06\x163", b"{}")
    for n in range(4):
        client.xadd("test:stories", {"payload": str(n)})
    client.xgroup_create("test:stories", "archive", id="0")
    client.close()
    targets = HealthTargets(
        sqlite_url, broker_url=redis_url, redis_url=redis_url, stream_name="test:stories"
    )

    report = run_health_checks(targets, HealthPolicy(max_queue_depth=5, max_stream_lag=3))
    checks = _checks(report)
    assert checks["broker"].ok and checks["redis"].ok  # type: ignore[attr-defined]
    assert checks["queue:poll"].value == 6 and not checks["queue:poll"].ok  # type: ignore[attr-defined]
    assert checks["queue:dispatch"].value == 0 and checks["queue:dispatch"].ok  # type: ignore[attr-defined]
    assert checks["stream"].value == 4  # type: ignore[attr-defined]
    assert checks["stream_lag:archive"].value == 4  # type: ignore[attr-defined]
    assert not checks["stream_lag:archive"].ok  # type: ignore[attr-defined]
    assert not report.ok


def test_unreachable_redis_fails_within_the_timeout(migrated_url: str) -> None:
    targets = HealthTargets(
        migrated_url, broker_url="redis://127.0.0.1:1/0", redis_url="redis://127.0.0.1:1/1"
    )
    started = time.monotonic()
    report = run_health_checks(targets, HealthPolicy(connect_timeout_seconds=1), liveness_only=True)
    assert time.monotonic() - started < 5
    checks = _checks(report)
    assert not checks["broker"].ok and not checks["redis"].ok  # type: ignore[attr-defined]
    assert "outbox_backlog" not in checks  # liveness only


def test_cli_health_json_and_exit_codes(
    migrated_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("NEWSWORKER_DATABASE_URL", migrated_url)
    monkeypatch.delenv("NEWSWORKER_BROKER_URL", raising=False)
    monkeypatch.delenv("NEWSWORKER_REDIS_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["health", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert all(set(c) == {"name", "ok", "detail", "value"} for c in data["checks"])

    human = runner.invoke(cli_app, ["health"])
    assert human.exit_code == 0 and "healthy" in human.stdout

    monkeypatch.setenv("NEWSWORKER_BROKER_URL", "redis://127.0.0.1:1/0")
    failed = runner.invoke(cli_app, ["health", "--json", "--liveness"])
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["ok"] is False


def test_cli_status_shows_busiest_and_failing_feeds(
    migrated_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = Feed(url="http://127.0.0.1/busy.xml", last_success_at=datetime.now(UTC))
    _add(
        migrated_url,
        feed,
        Feed(url="http://127.0.0.1/broken.xml", error_count=7, last_error="HTTP 500"),
    )
    assert feed.id is not None
    now = datetime.now(UTC)
    _add(
        migrated_url,
        *[
            ArticleRecord(
                feed_id=feed.id,
                entry_key=f"e{n}",
                story_id=f"s{n}",
                title="t",
                published_at=now,
                discovered_at=now,
                content_hash="h",
            )
            for n in range(3)
        ],
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSWORKER_DATABASE_URL", migrated_url)
    monkeypatch.delenv("NEWSWORKER_BROKER_URL", raising=False)
    monkeypatch.delenv("NEWSWORKER_REDIS_URL", raising=False)
    result = CliRunner().invoke(cli_app, ["status"], env={"COLUMNS": "200"})
    assert "busiest feeds" in result.stdout and "most failing feeds" in result.stdout
    assert (
        "busy.xml" in result.stdout
        and "broken.xml" in result.stdout
        and "HTTP 500" in result.stdout
    )
