"""Plain data passed between the pipeline stages.

Stages are pure functions over these records: fetch -> FetchResult, parse -> ParsedFeed of
RawEntry, normalize -> Article, enrich -> AttachedEntity, publish -> story dict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the fetcher got for one feed URL."""

    url: str
    final_url: str
    status: int
    body: bytes | None
    content_type: str | None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    not_modified: bool = False
    # Target of a redirect chain made only of 301/308 hops; None when any hop was temporary.
    permanent_redirect_url: str | None = None
    # Longest of Cache-Control max-age, Expires and Retry-After, in seconds.
    min_refresh_seconds: float | None = None
    elapsed_ms: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source an article or a profile cites."""

    number: int
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One feed entry as the parser read it, not yet cleaned."""

    guid: str | None
    link: str | None
    title: str | None
    summary_html: str | None
    content_html: str | None
    published_raw: str | None = None
    published_at: datetime | None = None
    updated_raw: str | None = None
    updated_at: datetime | None = None
    language: str | None = None
    base_url: str | None = None
    author: str | None = None
    # Every author's name in document order; author is the first of them.
    authors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its own metadata and its entries."""

    title: str | None
    link: str | None
    language: str | None
    entries: tuple[RawEntry, ...]
    ttl_seconds: int | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    """A normalized, sanitized article, ready for enrichment and storage."""

    entry_key: str
    title: str
    url: str | None
    canonical_url: str | None
    summary: str
    text: str
    content_html: str
    language: str | None
    published_at: datetime
    updated_at: datetime | None
    discovered_at: datetime
    content_hash: str
    author: str | None = None
    # e.g. "published_inferred", "published_clamped", "title_truncated", "text_truncated"
    flags: tuple[str, ...] = ()
    sources: tuple[Citation, ...] = ()
    # The GUID the feed gave, kept so the pipeline can detect feeds with unstable GUIDs.
    guid: str | None = None
    # Every author's name in document order; author is the first (main) one.
    authors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mention:
    """A span of article.text that names an entity."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class EntityMatch:
    """The matcher's decision: this profile is mentioned here, with this confidence."""

    profile_id: str
    confidence: float
    mentions: tuple[Mention, ...]


@dataclass(frozen=True, slots=True)
class ProfileSource:
    """One cited source of a profile."""

    title: str
    url: str
    retrieved_at: str | None = None
    licence: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileSnapshot:
    """The profile content attached to a story, frozen at enrichment time."""

    id: str
    type: str
    name: str
    summary: str
    sources: tuple[ProfileSource, ...]
    version: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AttachedEntity:
    """An entity attached to a story: the match plus the profile snapshot."""

    match: EntityMatch
    profile: ProfileSnapshot


@dataclass(frozen=True, slots=True)
class FeedRef:
    """The feed a story came from, as the story names it."""

    id: int
    url: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxEventData:
    """One outbox event as sinks see it: the payload is the stored JSON text, sent as is."""

    id: int
    story_id: str
    revision: int
    event: str
    idempotency_key: str
    payload_json: str
    created_at: datetime

    @property
    def payload(self) -> dict[str, Any]:
        """The payload decoded."""
        decoded: dict[str, Any] = json.loads(self.payload_json)
        return decoded
