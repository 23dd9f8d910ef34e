"""Retention: delete old articles, stories, outbox events, deliveries and feed errors in batches.

Safe while workers run: every batch is its own short transaction, and every DELETE re-checks its
conditions in the statement itself, so a row a worker touched meanwhile (a story updated, a
delivery put back to pending) is kept. Pending deliveries, and everything they need, are never
deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Delete, and_, delete, exists, not_, select
from sqlmodel import Session, col

from newsworker.storage.models import (
    ArticleRecord,
    Delivery,
    DeliveryStatus,
    FeedErrorRecord,
    OutboxEvent,
    Story,
    StoryEntity,
    utcnow,
)


@dataclass
class PruneReport:
    """How many rows of each kind were deleted, and in how many batches."""

    deliveries: int = 0
    outbox_events: int = 0
    stories: int = 0
    articles: int = 0
    feed_errors: int = 0
    batches: int = 0
    cutoff: datetime | None = None

    @property
    def total(self) -> int:
        """Rows deleted, all kinds together."""
        return (
            self.deliveries + self.outbox_events + self.stories + self.articles + self.feed_errors
        )

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        data["total"] = self.total
        return data


def _pending_for_story() -> ColumnElement[bool]:
    return exists().where(
        col(OutboxEvent.story_id) == col(Story.story_id),
        col(Delivery.event_id) == col(OutboxEvent.id),
        col(Delivery.status) == DeliveryStatus.PENDING,
    )


def _old_deliveries(cutoff: datetime) -> ColumnElement[bool]:
    # Sent or dead deliveries of old events; a pending one is never old enough.
    old_event = exists().where(
        col(OutboxEvent.id) == col(Delivery.event_id), col(OutboxEvent.created_at) < cutoff
    )
    return and_(col(Delivery.status) != DeliveryStatus.PENDING, old_event)


def _old_events(cutoff: datetime) -> ColumnElement[bool]:
    any_delivery = exists().where(col(Delivery.event_id) == col(OutboxEvent.id))
    # A story's last event holds its payload: it goes with the story, not before.
    a_story_latest = exists().where(col(Story.last_event_id) == col(OutboxEvent.id))
    return and_(col(OutboxEvent.created_at) < cutoff, not_(any_delivery), not_(a_story_latest))


def _old_stories(cutoff: datetime) -> ColumnElement[bool]:
    return and_(col(Story.updated_at) < cutoff, not_(_pending_for_story()))


def _old_articles(cutoff: datetime) -> ColumnElement[bool]:
    # An article stays while its story does: the story's payload and primary_article_id need it.
    story_kept = exists().where(
        (col(Story.story_id) == col(ArticleRecord.story_id))
        | (col(Story.primary_article_id) == col(ArticleRecord.id))
    )
    return and_(col(ArticleRecord.discovered_at) < cutoff, not_(story_kept))


def _old_feed_errors(cutoff: datetime) -> ColumnElement[bool]:
    return col(FeedErrorRecord.occurred_at) < cutoff


def _delete_in_batches(
    session: Session,
    key: Any,
    condition: ColumnElement[bool],
    batch_size: int,
    after_delete: Callable[[list[object]], None] | None = None,
) -> tuple[int, int]:
    """Delete rows matching condition, batch_size at a time, one commit per batch."""
    deleted = batches = 0
    table = key.table
    while True:
        ids = list(session.execute(select(key).where(condition).limit(batch_size)).scalars())
        if not ids:
            return deleted, batches
        statement: Delete = delete(table).where(key.in_(ids), condition)
        result = session.execute(statement.execution_options(synchronize_session=False))
        if after_delete is not None:
            after_delete(ids)
        session.commit()
        deleted += int(getattr(result, "rowcount", 0) or 0)
        batches += 1
        if len(ids) < batch_size:
            return deleted, batches


def prune(
    *,
    session: Session,
    older_than: timedelta,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> PruneReport:
    """Delete rows older than older_than, batch by batch (one short transaction each)."""
    if older_than <= timedelta(0):
        raise ValueError(f"older_than must be positive, not {older_than}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    cutoff = (now or utcnow()) - older_than
    report = PruneReport(cutoff=cutoff)

    def drop_orphan_story_entities(story_ids: list[object]) -> None:
        # Explicit, so a database without foreign key enforcement leaves no orphans either;
        # only rows whose story is really gone (a story updated meanwhile was kept).
        story_gone = not_(exists().where(col(Story.story_id) == col(StoryEntity.story_id)))
        session.execute(
            delete(StoryEntity).where(col(StoryEntity.story_id).in_(story_ids), story_gone)
        )

    # Order matters: deliveries free their events, stories free their last events and articles.
    Step = tuple[str, Any, ColumnElement[bool], Callable[[list[object]], None] | None]
    steps: list[Step] = [
        ("deliveries", col(Delivery.id), _old_deliveries(cutoff), None),
        ("stories", col(Story.story_id), _old_stories(cutoff), drop_orphan_story_entities),
        ("outbox_events", col(OutboxEvent.id), _old_events(cutoff), None),
        ("articles", col(ArticleRecord.id), _old_articles(cutoff), None),
        ("feed_errors", col(FeedErrorRecord.id), _old_feed_errors(cutoff), None),
    ]
    for name, key, condition, after in steps:
        deleted, batches = _delete_in_batches(session, key, condition, batch_size, after)
        setattr(report, name, deleted)
        report.batches += batches
    return report
