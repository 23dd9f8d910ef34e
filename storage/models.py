"""SQLModel tables: feeds, articles, entity profiles, stories and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Integer, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always read them back aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any) -> Any:
    return Field(default_factory=type(default), sa_column=Column(JSON, nullable=False))


class FeedStatus:
    """The values of Feed.status."""

    ACTIVE = "active"
    PAUSED = "paused"
    FAILING = "failing"
    DISABLED = "disabled"
    ALL = (ACTIVE, PAUSED, FAILING, DISABLED)
    POLLABLE = (ACTIVE, FAILING)


class Feed(SQLModel, table=True):
    """A registered feed and its polling state."""

    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    title: str | None = None
    site_url: str | None = None
    language: str | None = None
    status: str = Field(default=FeedStatus.ACTIVE, index=True)
    disabled_reason: str | None = None
    # The adaptive interval in force; interval_override_seconds wins when set.
    interval_seconds: int = 900
    interval_override_seconds: int | None = None
    next_poll_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    last_polled_at: datetime | None = _utc()
    last_success_at: datetime | None = _utc()
    last_error: str | None = None
    last_error_at: datetime | None = _utc()
    error_count: int = 0
    # Conditional GET state.
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    # A 301/308 target is persisted only after it was seen on several consecutive polls.
    redirect_candidate_url: str | None = None
    redirect_candidate_count: int = 0
    url_history: list[str] = _json([])
    # Set once the feed's GUIDs proved unstable; identity then falls back to the canonical link.
    guid_unstable: bool = False
    # Fingerprints of the entries the last parsed poll held (space-separated): an entry that
    # comes back with the same fingerprint is unchanged and is not normalized again.
    entry_fingerprints: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class FeedErrorRecord(SQLModel, table=True):
    """One recorded failure of a feed: fetch, parse or a rejected entry."""

    __tablename__ = "feed_errors"

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feeds.id", index=True, ondelete="CASCADE")
    occurred_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    kind: str
    message: str = Field(sa_column=Column(Text, nullable=False))
    # Why an entry was rejected (entry_rejected rows): a short code, counted by `feeds errors`.
    reason: str | None = Field(default=None, sa_column=Column(Text))


class ArticleRecord(SQLModel, table=True):
    """A normalized article; (feed_id, entry_key) makes re-polls idempotent."""

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("feed_id", "entry_key", name="uq_articles_feed_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feeds.id", index=True, ondelete="CASCADE")
    entry_key: str = Field(sa_column=Column(Text, nullable=False))
    guid: str | None = Field(default=None, sa_column=Column(Text))
    story_id: str = Field(index=True)
    revision: int = 1
    url: str | None = Field(default=None, sa_column=Column(Text))
    canonical_url: str | None = Field(default=None, sa_column=Column(Text, index=True))
    title: str = Field(sa_column=Column(Text, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    content_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    language: str | None = None
    author: str | None = None
    # Every author's name in order; None on rows stored before authors were kept (author only).
    authors: list[str] | None = Field(default=None, sa_column=Column(JSON))
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime | None = _utc()
    discovered_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    content_hash: str
    flags: list[str] = _json([])
    sources: list[dict[str, Any]] = _json([])
    # Near-duplicate signature (hex), used to join syndicated copies into one story.
    signature: str | None = Field(default=None, sa_column=Column(Text))


class EntityProfile(SQLModel, table=True):
    """A person, organization, place or other entity with a short cited biography."""

    __tablename__ = "entity_profiles"

    id: str = Field(primary_key=True)
    type: str = Field(index=True)
    name: str
    aliases: list[str] = _json([])
    summary: str = Field(sa_column=Column(Text, nullable=False))
    facts: dict[str, Any] = _json({})
    sources: list[dict[str, Any]] = _json([])
    prior: float | None = None
    # A content hash: it changes whenever the content changes.
    version: str
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


class StoreState(SQLModel, table=True):
    """Small key/value facts about the store, e.g. the profile set's version."""

    __tablename__ = "store_state"

    key: str = Field(primary_key=True)
    value: str


# Story.revision doubles as the optimistic lock of a story row: two workers that join copies to
# one story at once would both write revision n+1, and the second one's source would be lost.
_STORY_REVISION = Column("revision", Integer, nullable=False)


class Story(SQLModel, table=True):
    """The latest state of one story (a cluster of one or more articles)."""

    __tablename__ = "stories"
    # Every UPDATE checks the revision it read (WHERE revision = :read): a concurrent writer's
    # UPDATE matches no row and raises StaleDataError, and the poll is retried on fresh state.
    __mapper_args__ = {"version_id_col": _STORY_REVISION, "version_id_generator": False}

    story_id: str = Field(primary_key=True)
    revision: int = Field(default=1, sa_column=_STORY_REVISION)
    last_event: str = "created"
    primary_article_id: int = Field(foreign_key="articles.id", ondelete="CASCADE")
    # The outbox event of the latest revision holds the story's payload: storing it here too
    # doubled the bytes written per story. Retention keeps every story's last event.
    last_event_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


class StoryEntity(SQLModel, table=True):
    """Which profiles a story carries, so profile changes can re-publish recent stories."""

    __tablename__ = "story_entities"

    story_id: str = Field(foreign_key="stories.story_id", primary_key=True, ondelete="CASCADE")
    profile_id: str = Field(primary_key=True, index=True)
    profile_version: str


class OutboxEvent(SQLModel, table=True):
    """One story event, written in the same transaction as its article (transactional outbox)."""

    __tablename__ = "outbox_events"

    id: int | None = Field(default=None, primary_key=True)
    story_id: str = Field(index=True)
    revision: int
    event: str
    idempotency_key: str = Field(unique=True)
    payload: dict[str, Any] = _json({})
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


class DeliveryStatus:
    """The values of Delivery.status."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class Delivery(SQLModel, table=True):
    """Delivery state of one outbox event to one sink; each sink moves at its own pace."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "sink", name="uq_deliveries_event_sink"),
        Index("ix_deliveries_due", "sink", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="outbox_events.id", index=True, ondelete="CASCADE")
    sink: str
    status: str = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = _utc()
