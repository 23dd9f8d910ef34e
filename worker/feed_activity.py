"""The status tables: the busiest feeds and the most failing ones (`newsworker status`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from newsworker.storage.feeds import most_failing
from newsworker.storage.models import ArticleRecord, Feed


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
    return [
        FeedActivity(feed.id or 0, feed.url, feed.status, feed.error_count, feed.last_error)
        for feed in most_failing(session=session, limit=limit)
    ]
