"""Session-first functions over feeds and their recorded errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from newsworker.storage.models import Feed, FeedErrorRecord, FeedStatus, utcnow


class FeedNotFound(LookupError):
    """No feed has that URL or id."""


def add_feed(
    *, session: Session, url: str, interval_seconds: int | None = None, title: str | None = None
) -> tuple[Feed, bool]:
    """Register a feed (idempotent on URL); returns the feed and whether it was created."""
    existing = session.exec(select(Feed).where(Feed.url == url)).first()
    if existing is not None:
        if interval_seconds is not None and existing.interval_override_seconds != interval_seconds:
            existing.interval_override_seconds = interval_seconds
            session.add(existing)
        return existing, False
    feed = Feed(url=url, title=title, interval_override_seconds=interval_seconds)
    if interval_seconds is not None:
        feed.interval_seconds = interval_seconds
    session.add(feed)
    session.flush()
    return feed, True


def get_feed(*, session: Session, feed_id: int) -> Feed | None:
    """The feed with this id, or None."""
    return session.get(Feed, feed_id)


def find_feed(*, session: Session, url_or_id: str) -> Feed:
    """The feed named by its URL or numeric id; raises FeedNotFound."""
    feed: Feed | None = None
    if url_or_id.isdigit():
        feed = session.get(Feed, int(url_or_id))
    if feed is None:
        feed = session.exec(select(Feed).where(Feed.url == url_or_id)).first()
    if feed is None:
        raise FeedNotFound(f"no feed with URL or id {url_or_id!r}")
    return feed


def list_feeds(*, session: Session, status: str | None = None) -> Sequence[Feed]:
    """All feeds, by id, optionally of one status."""
    query = select(Feed).order_by(col(Feed.id))
    if status is not None:
        query = query.where(Feed.status == status)
    return session.exec(query).all()


def set_feed_status(
    *, session: Session, feed: Feed, status: str, reason: str | None = None
) -> Feed:
    """Pause, resume (active), disable or mark a feed failing."""
    if status not in FeedStatus.ALL:
        raise ValueError(f"status must be one of {FeedStatus.ALL}, not {status!r}")
    feed.status = status
    feed.disabled_reason = reason if status == FeedStatus.DISABLED else None
    if status == FeedStatus.ACTIVE:
        feed.error_count = 0
        feed.next_poll_at = utcnow()
    session.add(feed)
    return feed


def remove_feed(*, session: Session, feed: Feed) -> None:
    """Delete a feed with its errors, articles and stories (cascade)."""
    session.delete(feed)


def claim_due_feeds(
    *,
    session: Session,
    now: datetime,
    limit: int,
    lease: timedelta,
    include_not_due: bool = False,
    after_id: int = 0,
) -> list[int]:
    """Hand out due feeds once: lock them (SKIP LOCKED on PostgreSQL), push next_poll_at by a lease.

    The poll sets the real next_poll_at; the lease only keeps other dispatchers off the feed
    until then, and brings the feed back if its poll task is lost.
    """
    query = select(Feed).where(col(Feed.status).in_(FeedStatus.POLLABLE))
    if include_not_due:
        # Every feed, due or not: page by id (pass the last id handed out as after_id), so a
        # round visits each feed exactly once whatever its schedule.
        query = query.where(col(Feed.id) > after_id).order_by(col(Feed.id))
    else:
        # Due feeds oldest first; the lease pushes handed-out feeds out of the next page.
        query = query.where(Feed.next_poll_at <= now).order_by(col(Feed.next_poll_at))
    query = query.limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    feeds = session.exec(query).all()
    for feed in feeds:
        feed.next_poll_at = now + lease
        session.add(feed)
    session.commit()
    return [feed.id for feed in feeds if feed.id is not None]


def record_feed_error(
    *,
    session: Session,
    feed_id: int,
    kind: str,
    message: str,
    at: datetime | None = None,
    reason: str | None = None,
) -> None:
    """Keep a feed error for ops to inspect (feeds list, status); reason: a rejected entry's."""
    session.add(
        FeedErrorRecord(
            feed_id=feed_id,
            kind=kind,
            message=message[:2000],
            occurred_at=at or utcnow(),
            reason=reason,
        )
    )


# The kind of a rejected entry's feed error, and the reason of those recorded before reasons.
ENTRY_REJECTED = "entry_rejected"
UNRECORDED_REASON = "unrecorded"


def rejected_entry_counts(
    *, session: Session, feed_id: int | None = None
) -> dict[int, dict[str, int]]:
    """Rejected entries still on record, by feed id then reason code (one feed, or all)."""
    query = (
        select(FeedErrorRecord.feed_id, FeedErrorRecord.reason, func.count())
        .where(FeedErrorRecord.kind == ENTRY_REJECTED)
        .group_by(col(FeedErrorRecord.feed_id), col(FeedErrorRecord.reason))
    )
    if feed_id is not None:
        query = query.where(FeedErrorRecord.feed_id == feed_id)
    counts: dict[int, dict[str, int]] = {}
    for row_feed_id, reason, count in session.exec(query).all():
        by_reason = counts.setdefault(row_feed_id, {})
        key = reason or UNRECORDED_REASON
        by_reason[key] = by_reason.get(key, 0) + int(count)
    return counts


def recent_feed_errors(
    *, session: Session, feed_id: int, limit: int = 20
) -> Sequence[FeedErrorRecord]:
    """The newest recorded errors of a feed."""
    query = (
        select(FeedErrorRecord)
        .where(FeedErrorRecord.feed_id == feed_id)
        .order_by(col(FeedErrorRecord.occurred_at).desc())
        .limit(limit)
    )
    return session.exec(query).all()


def feed_counts(*, session: Session, now: datetime, overdue_after: timedelta) -> dict[str, int]:
    """Feeds by status, plus how many pollable feeds are overdue."""
    rows = session.exec(select(Feed.status, func.count()).group_by(Feed.status)).all()
    counts = {status: 0 for status in FeedStatus.ALL}
    counts.update({status: int(count) for status, count in rows})
    overdue = session.exec(
        select(func.count())
        .select_from(Feed)
        .where(col(Feed.status).in_(FeedStatus.POLLABLE), Feed.next_poll_at < now - overdue_after)
    ).one()
    counts["overdue"] = int(overdue)
    return counts


def last_success(*, session: Session) -> datetime | None:
    """When any feed last polled successfully."""
    value = session.exec(select(func.max(Feed.last_success_at))).one()
    return value if isinstance(value, datetime) else None


def most_failing(*, session: Session, limit: int = 10) -> Sequence[Feed]:
    """Feeds with the most consecutive errors."""
    query = (
        select(Feed)
        .where(or_(col(Feed.error_count) > 0, col(Feed.status) == FeedStatus.DISABLED))
        .order_by(col(Feed.error_count).desc())
        .limit(limit)
    )
    return session.exec(query).all()
