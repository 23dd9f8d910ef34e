"""Health checks for the fleet: database, Redis, queues, outbox, stream, feeds, last poll.

Each probe uses short timeouts so `newsworker health` stays fit for a container health check;
a probe that cannot run reports a failed Check instead of raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from newsworker.storage.db import sqlalchemy_url
from newsworker.storage.models import ArticleRecord, Feed, FeedStatus

log = logging.getLogger("newsworker.health")

QUEUE_NAMES = ("dispatch", "poll", "publish")
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
    """Thresholds of the health checks (the lead maps settings onto these)."""

    max_queue_depth: int = 10_000
    max_outbox_backlog: int = 10_000
    max_outbox_age_seconds: int = 600
    max_poll_silence_seconds: int = 3600
    max_stream_lag: int = 100_000
    # A feed is overdue when its next poll is this late; the check fails above max_overdue_share.
    overdue_after_seconds: int = 900
    max_overdue_share: float = 0.1
    connect_timeout_seconds: float = 3.0
    queue_names: tuple[str, ...] = QUEUE_NAMES


@dataclass(frozen=True)
class HealthTargets:
    """What to probe: the database, and the broker and stream Redis when configured."""

    database_url: str
    broker_url: str | None = None
    redis_url: str | None = None
    stream_name: str = "newsworker:stories"


@dataclass
class HealthReport:
    """All checks; ok when every one passed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape: {"ok": bool, "checks": [{"name", "ok", "detail", "value"}]}."""
        return {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}


def _probe(name: str, run: Callable[[], list[Check]]) -> list[Check]:
    """Run a probe; any failure becomes one failed check naming the probe."""
    try:
        return run()
    except Exception as e:  # a health check reports failures, it never raises them
        log.debug("health probe failed", extra={"check": name, "error": str(e)})
        return [Check(name, False, f"{type(e).__name__}: {e}"[:300])]


def health_engine(database_url: str, connect_timeout: float) -> Engine:
    """A throwaway engine with a short connect timeout (never the workers' pooled engine)."""
    url = sqlalchemy_url(database_url)
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": connect_timeout})
    from sqlalchemy.pool import NullPool

    return create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(connect_timeout))}
    )


def database_checks(engine: Engine) -> list[Check]:
    """The database answers, and is migrated to head."""
    from alembic.runtime.migration import MigrationContext

    from newsworker.storage.migrate import head_revision

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
    import redis

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
    from newsworker.storage.outbox import oldest_pending_age, pending_count

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
    from newsworker.storage.feeds import feed_counts, last_success

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


def run_health_checks(
    targets: HealthTargets,
    policy: HealthPolicy | None = None,
    *,
    now: datetime | None = None,
    liveness_only: bool = False,
) -> HealthReport:
    """Run every check (or only reachability with liveness_only) and return the report."""
    policy = policy or HealthPolicy()
    now = now or datetime.now(UTC)
    report = HealthReport()
    engine = health_engine(targets.database_url, policy.connect_timeout_seconds)
    try:
        db_checks = _probe("database", lambda: database_checks(engine))
        report.checks.extend(db_checks)
        db_ok = all(check.ok for check in db_checks if check.name == "database")
        if liveness_only:
            report.checks.extend(
                _probe("broker", lambda: _ping("broker", targets.broker_url, policy))
            )
            report.checks.extend(_probe("redis", lambda: _ping("redis", targets.redis_url, policy)))
            return report
        report.checks.extend(_probe("broker", lambda: broker_checks(targets.broker_url, policy)))
        report.checks.extend(
            _probe("redis", lambda: stream_checks(targets.redis_url, targets.stream_name, policy))
        )
        migrated = all(check.ok for check in db_checks)
        if db_ok and migrated:
            with Session(engine) as session:
                report.checks.extend(_probe("outbox", lambda: outbox_checks(session, policy, now)))
                report.checks.extend(_probe("feeds", lambda: feed_checks(session, policy, now)))
    finally:
        engine.dispose()
    return report


def _ping(name: str, url: str | None, policy: HealthPolicy) -> list[Check]:
    if url is None or url.startswith("memory://"):
        return [Check(name, True, "not configured", None)]
    client = _redis_client(url, policy.connect_timeout_seconds)
    try:
        client.ping()
    finally:
        client.close()
    return [Check(name, True, "reachable", True)]


@dataclass(frozen=True)
class FeedActivity:
    """A feed with a count (articles in a window, or consecutive errors) for the status tables."""

    feed_id: int
    url: str
    status: str
    count: int
    last_error: str | None = None


def busiest_feeds(session: Session, *, since: datetime, limit: int = 10) -> Sequence[FeedActivity]:
    """Feeds with the most articles discovered since a time."""
    articles = func.count(col(ArticleRecord.id)).label("articles")
    rows = session.exec(
        select(col(Feed.id), col(Feed.url), col(Feed.status), articles)
        .join(ArticleRecord, col(ArticleRecord.feed_id) == col(Feed.id))
        .where(col(ArticleRecord.discovered_at) >= since)
        .group_by(col(Feed.id), col(Feed.url), col(Feed.status))
        .order_by(articles.desc())
        .limit(limit)
    ).all()
    return [FeedActivity(r[0] or 0, r[1], r[2], int(r[3])) for r in rows]


def failing_feeds(session: Session, *, limit: int = 10) -> Sequence[FeedActivity]:
    """Feeds with the most consecutive errors, and disabled ones."""
    from newsworker.storage.feeds import most_failing

    return [
        FeedActivity(feed.id or 0, feed.url, feed.status, feed.error_count, feed.last_error)
        for feed in most_failing(session=session, limit=limit)
    ]
