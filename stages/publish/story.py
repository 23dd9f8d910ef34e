"""The v1 story payload: a pure builder from pipeline records, and stable story ids."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from newsworker import __version__
from newsworker.stages.enrich import render_story
from newsworker.stages.enrich.profiles import source_to_dict
from newsworker.stages.records import Article, AttachedEntity, Citation, FeedRef

SCHEMA_VERSION = "1.0"
PRODUCER = f"newsworker/{__version__}"
# No `retracted`: nothing the pipeline reads says a story was withdrawn (an entry gone from its
# feed was usually just dropped), so none is sent and the schema does not list one (see
# docs/consumers.md, "Events").
EVENTS = ("created", "updated")

# Fixed forever: changing it would give every story a new id.
_STORY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/newsworker/newsworker/story")


_NAMESPACE_BYTES = _STORY_NAMESPACE.bytes


def story_id_for(*, canonical_url: str | None, feed_url: str, entry_key: str) -> str:
    """Return the stable UUIDv5 of a story: by canonical URL when known, else feed + entry key."""
    name = f"url:{canonical_url}" if canonical_url else f"entry:{feed_url}\n{entry_key}"
    # str(uuid.uuid5(_STORY_NAMESPACE, name)), spelled out: the UUID object's checks and
    # formatting cost more than the hash, twice per new article (a test compares the two).
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_ = digest.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def idempotency_key_for(story_id: str, revision: int) -> str:
    """Return the key consumers de-duplicate by: one per story revision."""
    return f"{story_id}:{revision}"


def utc_iso(value: datetime, *, field: str) -> str:
    """Format an aware datetime as UTC ISO 8601 with a trailing Z."""
    if value.tzinfo is None:
        raise ValueError(f"{field}: naive datetime {value!r}; stories carry UTC times only")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_iso(value: datetime | None, *, field: str) -> str | None:
    return None if value is None else utc_iso(value, field=field)


def _citation(citation: Citation) -> dict[str, Any]:
    return {"number": citation.number, "title": citation.title, "url": citation.url}


def _article(article: Article, feed: FeedRef) -> dict[str, Any]:
    return {
        "title": article.title,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "feed": {"id": feed.id, "url": feed.url, "title": feed.title},
        "published_at": utc_iso(article.published_at, field="article.published_at"),
        "updated_at": _optional_iso(article.updated_at, field="article.updated_at"),
        "discovered_at": utc_iso(article.discovered_at, field="article.discovered_at"),
        "language": article.language,
        "summary": article.summary,
        "text": article.text,
        "content_html": article.content_html,
        "author": article.author,
        "authors": list(article.authors),
        "flags": list(article.flags),
        "sources": [_citation(c) for c in article.sources],
    }


def _entity(entity: AttachedEntity) -> dict[str, Any]:
    profile = entity.profile
    return {
        "id": profile.id,
        "type": profile.type,
        "name": profile.name,
        "confidence": round(float(entity.match.confidence), 4),
        "mentions": [
            {"text": m.text, "start": m.start, "end": m.end} for m in entity.match.mentions
        ],
        "profile": {
            "summary": profile.summary,
            "sources": [source_to_dict(s) for s in profile.sources],
            "version": profile.version,
            "updated_at": utc_iso(profile.updated_at, field=f"entities[{profile.id}].updated_at"),
        },
    }


def _also_reported(source: Mapping[str, str]) -> dict[str, Any]:
    return {
        "feed_url": source.get("feed_url"),
        "url": source.get("url"),
        "title": source.get("title"),
    }


def build_story(
    *,
    story_id: str,
    revision: int,
    event: str,
    article: Article,
    feed: FeedRef,
    entities: Sequence[AttachedEntity],
    rendered: str,
    occurred_at: datetime,
    also_reported_by: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Build the v1 story payload (docs/schema/story.v1.json) from pipeline records."""
    if event not in EVENTS:
        raise ValueError(f"event: {event!r} is not one of {', '.join(EVENTS)}")
    if revision < 1:
        raise ValueError(f"revision: {revision} must be 1 or more (story {story_id})")
    return {
        "schema_version": SCHEMA_VERSION,
        "story_id": story_id,
        "revision": revision,
        "event": event,
        "idempotency_key": idempotency_key_for(story_id, revision),
        "occurred_at": utc_iso(occurred_at, field="occurred_at"),
        "producer": PRODUCER,
        "article": _article(article, feed),
        "entities": [_entity(e) for e in entities],
        "also_reported_by": [_also_reported(s) for s in also_reported_by],
        "rendered": rendered,
    }


def assemble_story(
    *,
    story_id: str,
    revision: int,
    event: str,
    article: Article,
    feed: FeedRef,
    entities: Sequence[AttachedEntity],
    occurred_at: datetime,
    also_reported_by: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The story payload of an article and its attached entities, rendered text included."""
    return build_story(
        story_id=story_id,
        revision=revision,
        event=event,
        article=article,
        feed=feed,
        entities=entities,
        rendered=render_story(
            title=article.title, text=article.text, entities=entities, sources=article.sources
        ),
        occurred_at=occurred_at,
        also_reported_by=also_reported_by,
    )
