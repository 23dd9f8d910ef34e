"""The health probes: database and migrations, broker queues, story stream, outbox, feeds.

Each probe uses short timeouts so `newsworker health` stays fit for a container health check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, select

from newsworker.storage.db import sqlalchemy_url
from newsworker.storage.deliveries import oldest_pending_age, pending_count
from newsworker.storage.feeds import feed_counts, last_success
from newsworker.storage.migrate import head_revision
from newsworker.storage.models import Feed, FeedStatus
from newsworker.worker.queues import QUEUES

# Kombu's Redis transport keeps one list per priority step: "poll", "poll\x06\x163", ...
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


@dataclass(frozen=True)
class Check:
    """One health check: its name, whether it passed, a line for people and a value for machines."""

    name: str
    ok: bool
    detail: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds of the health checks (the CLI maps settings onto these)."""

    max_queue_depth: int = 10_000
    max_outbox_backlog: int = 10_000
    max_outbox_age_seconds: int = 600
    max_poll_silence_seconds: int = 3600
    max_stream_lag: int = 100_000
    # A feed is overdue when its next poll is this late; the check fails above max_overdue_share.
    overdue_after_seconds: int = 900
    max_overdue_share: float = 0.1
    connect_timeout_seconds: float = 3.0
    queue_names: tuple[str, ...] = QUEUES


def health_engine(database_url: str, connect_timeout: float) -> Engine:
    """A throwaway engine with a short connect timeout (never the workers' pooled engine)."""
    url = sqlalchemy_url(database_url)
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": connect_timeout})
    return create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(connect_timeout))}
    )


def database_checks(engine: Engine) -> list[Check]:
    """The database answers, and is migrated to head."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = head_revision()
    return [
        Check("database", True, f"reachable ({engine.dialect.name})", engine.dialect.name),
        Check(
            "migrations",
            current == head,
            f"at head {head}"
            if current == head
            else f"at {current}, head is {head}: run db upgrade",
            current,
        ),
    ]


def _redis_client(url: str, timeout: float) -> Any:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def queue_depth(client: Any, queue: str) -> int:
    """Messages waiting in a Celery queue on the Redis broker (all priority lists)."""
    pipe = client.pipeline(transaction=False)
    for step in KOMBU_PRIORITY_STEPS:
        pipe.llen(queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}")
    return sum(int(n) for n in pipe.execute())


def broker_checks(broker_url: str | None, policy: HealthPolicy) -> list[Check]:
    """The broker answers, and every queue is shorter than its threshold."""
    if broker_url is None or broker_url.startswith("memory://"):
        return [Check("broker", True, "not configured (embedded mode)", None)]
    client = _redis_client(broker_url, policy.connect_timeout_seconds)
    try:
        client.ping()
        checks = [Check("broker", True, "reachable", True)]
        for queue in policy.queue_names:
            depth = queue_depth(client, queue)
            ok = depth <= policy.max_queue_depth
            detail = f"{depth} waiting" + ("" if ok else f" (> {policy.max_queue_depth})")
            checks.append(Check(f"queue:{queue}", ok, detail, depth))
        return checks
    finally:
        client.close()


def stream_checks(redis_url: str | None, stream: str, policy: HealthPolicy) -> list[Check]:
    """Redis answers; the story stream's length and its consumer groups' lag."""
    if redis_url is None:
        return [Check("redis", True, "not configured (no stream sink)", None)]
    client = _redis_client(redis_url, policy.connect_timeout_seconds)
    try:
        client.ping()
        length = int(client.xlen(stream))
        checks = [
            Check("redis", True, "reachable", True),
            Check("stream", True, f"{stream}: {length} entries", length),
        ]
        groups = client.xinfo_groups(stream) if length or client.exists(stream) else []
        for group in groups:
            name = _text(group.get("name"))
            lag = group.get("lag")
            if lag is None:  # Redis < 7, or the lag cannot be computed after trimming
                pending = int(group.get("pending") or 0)
                checks.append(
                    Check(f"stream_lag:{name}", True, f"lag unknown, {pending} pending", None)
                )
                continue
            ok = int(lag) <= policy.max_stream_lag
            detail = f"{lag} behind" + ("" if ok else f" (> {policy.max_stream_lag})")
            checks.append(Check(f"stream_lag:{name}", ok, detail, int(lag)))
        return checks
    finally:
        client.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def outbox_checks(session: Session, policy: HealthPolicy, now: datetime) -> list[Check]:
    """Pending deliveries and the age of the oldest unpublished story event."""
    backlog = pending_count(session=session)
    age = oldest_pending_age(session=session, now=now)
    age_seconds = round(age.total_seconds(), 1) if age is not None else 0.0
    backlog_ok = backlog <= policy.max_outbox_backlog
    age_ok = age_seconds <= policy.max_outbox_age_seconds
    return [
        Check(
            "outbox_backlog",
            backlog_ok,
            f"{backlog} pending" + ("" if backlog_ok else f" (> {policy.max_outbox_backlog})"),
            backlog,
        ),
        Check(
            "outbox_oldest_age",
            age_ok,
            ("nothing pending" if age is None else f"oldest pending {age_seconds:.0f}s")
            + ("" if age_ok else f" (> {policy.max_outbox_age_seconds}s)"),
            age_seconds,
        ),
    ]


def feed_checks(session: Session, policy: HealthPolicy, now: datetime) -> list[Check]:
    """Feeds overdue (fails above a share), failing and disabled (reported), last success."""
    counts = feed_counts(
        session=session, now=now, overdue_after=timedelta(seconds=policy.overdue_after_seconds)
    )
    pollable = sum(counts.get(status, 0) for status in FeedStatus.POLLABLE)
    overdue = counts["overdue"]
    overdue_ok = overdue <= policy.max_overdue_share * max(pollable, 1)
    checks = [
        Check(
            "feeds_overdue",
            overdue_ok,
            f"{overdue} of {pollable} pollable feeds late by > {policy.overdue_after_seconds}s",
            overdue,
        ),
        Check("feeds_failing", True, f"{counts[FeedStatus.FAILING]} failing", counts["failing"]),
        Check(
            "feeds_disabled", True, f"{counts[FeedStatus.DISABLED]} disabled", counts["disabled"]
        ),
    ]
    checks.append(_last_poll_check(session, policy, now, last_success(session=session), pollable))
    return checks


def _last_poll_check(
    session: Session, policy: HealthPolicy, now: datetime, last: datetime | None, pollable: int
) -> Check:
    limit = policy.max_poll_silence_seconds
    if last is not None:
        age = (now - last).total_seconds()
        ok = age <= limit
        return Check(
            "last_successful_poll",
            ok,
            f"{age:.0f}s ago" + ("" if ok else f" (> {limit}s)"),
            round(age, 1),
        )
    if pollable == 0:
        return Check("last_successful_poll", True, "no pollable feeds", None)
    # Never succeeded: fine for a fresh fleet, wrong once the oldest feed had time to be polled.
    oldest = session.exec(
        select(func.min(Feed.created_at)).where(col(Feed.status).in_(FeedStatus.POLLABLE))
    ).one()
    if isinstance(oldest, str):  # SQLite returns aggregates unprocessed
        oldest = datetime.fromisoformat(oldest)
    if isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    waited = (now - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
    ok = waited <= limit
    return Check(
        "last_successful_poll", ok, f"never; oldest feed registered {waited:.0f}s ago", None
    )


def ping_check(name: str, url: str | None, policy: HealthPolicy) -> list[Check]:
    """A Redis URL answers a ping (liveness: no queue or stream figures)."""
    if url is None or url.startswith("memory://"):
        return [Check(name, True, "not configured", None)]
    client = _redis_client(url, policy.connect_timeout_seconds)
    try:
        client.ping()
    finally:
        client.close()
    return [Check(name, True, "reachable", True)]
