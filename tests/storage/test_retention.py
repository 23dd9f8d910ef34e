"""Retention: prune deletes old rows in batches and never what a pending delivery needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from newsworker.storage.models import (
    ArticleRecord,
    Delivery,
    DeliveryStatus,
    Feed,
    FeedErrorRecord,
    OutboxEvent,
    Story,
    StoryEntity,
)
from newsworker.storage.retention import prune

NOW = datetime(2026, 3, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=2)


def _story(session: Session, feed_id: int, key: str, *, at: datetime, story_at: datetime) -> Story:
    article = ArticleRecord(
        feed_id=feed_id,
        entry_key=key,
        story_id=f"s-{key}",
        title=key,
        published_at=at,
        discovered_at=at,
        content_hash=key,
    )
    session.add(article)
    session.flush()
    assert article.id is not None
    story = Story(
        story_id=f"s-{key}", primary_article_id=article.id, created_at=at, updated_at=story_at
    )
    session.add(story)
    session.flush()
    session.add(StoryEntity(story_id=story.story_id, profile_id="Q1", profile_version="v1"))
    return story


def _event(session: Session, story_id: str, *, at: datetime, status: str) -> OutboxEvent:
    event = OutboxEvent(
        story_id=story_id,
        revision=1,
        event="created",
        idempotency_key=f"{story_id}:1",
        created_at=at,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    session.add(Delivery(event_id=event.id, sink="jsonl", status=status, next_attempt_at=at))
    return event


@pytest.fixture
def populated(session: Session) -> Session:
    feed = Feed(url="http://127.0.0.1/feed.xml")
    session.add(feed)
    session.flush()
    assert feed.id is not None
    _story(session, feed.id, "old-sent", at=OLD, story_at=OLD)
    _event(session, "s-old-sent", at=OLD, status=DeliveryStatus.SENT)
    _story(session, feed.id, "old-pending", at=OLD, story_at=OLD)
    _event(session, "s-old-pending", at=OLD, status=DeliveryStatus.PENDING)
    _story(session, feed.id, "old-dead", at=OLD, story_at=OLD)
    _event(session, "s-old-dead", at=OLD, status=DeliveryStatus.DEAD)
    _story(session, feed.id, "old-but-updated", at=OLD, story_at=RECENT)
    _story(session, feed.id, "recent", at=RECENT, story_at=RECENT)
    _event(session, "s-recent", at=RECENT, status=DeliveryStatus.SENT)
    for at in (OLD, OLD - timedelta(days=1), RECENT):
        error = FeedErrorRecord(feed_id=feed.id, kind="timeout", message="slow", occurred_at=at)
        session.add(error)
    session.commit()
    return session


def test_prune_deletes_old_rows_and_keeps_what_pending_deliveries_need(populated: Session) -> None:
    report = prune(session=populated, older_than=timedelta(days=30), batch_size=1, now=NOW)

    stories = set(populated.exec(select(Story.story_id)).all())
    assert stories == {"s-old-pending", "s-old-but-updated", "s-recent"}
    article_keys = set(populated.exec(select(ArticleRecord.entry_key)).all())
    assert article_keys == {"old-pending", "old-but-updated", "recent"}
    events = set(populated.exec(select(OutboxEvent.story_id)).all())
    assert events == {"s-old-pending", "s-recent"}
    statuses = sorted(populated.exec(select(Delivery.status)).all())
    assert statuses == ["pending", "sent"]
    assert set(populated.exec(select(StoryEntity.story_id)).all()) == stories
    assert len(populated.exec(select(FeedErrorRecord)).all()) == 1

    assert (report.stories, report.articles, report.outbox_events) == (2, 2, 2)
    assert (report.deliveries, report.feed_errors) == (2, 2)
    assert report.batches >= report.total  # batch_size=1: one row per transaction
    assert report.as_dict()["total"] == 10


def test_prune_twice_deletes_nothing_more(populated: Session) -> None:
    prune(session=populated, older_than=timedelta(days=30), now=NOW)
    again = prune(session=populated, older_than=timedelta(days=30), now=NOW)
    assert again.total == 0


def test_prune_rejects_a_non_positive_age(session: Session) -> None:
    with pytest.raises(ValueError, match="older_than"):
        prune(session=session, older_than=timedelta(0))
