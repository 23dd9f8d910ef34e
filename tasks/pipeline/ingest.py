"""Storing one feed's prepared articles: new, changed or unchanged, enriched, as stories."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from newsworker.stages.normalize import guids_look_unstable
from newsworker.stages.prepare import PreparedFeed
from newsworker.stages.records import Article, FeedRef
from newsworker.storage import articles as article_store
from newsworker.storage.models import ArticleRecord, Feed
from newsworker.tasks import metrics
from newsworker.tasks.pipeline.caches import SignedRow
from newsworker.tasks.pipeline.context import PipelineContext, PollOutcome
from newsworker.tasks.pipeline.story_writer import StoryWriter

log = logging.getLogger("newsworker.pipeline")


def ingest_prepared(
    ctx: PipelineContext,
    session: Session,
    feed: Feed,
    prepared: PreparedFeed,
    outcome: PollOutcome,
    *,
    discovered_at: datetime,
) -> list[SignedRow]:
    """De-duplicate, enrich and stage one feed's prepared articles (the caller commits).

    Returns the article rows it inserted, for RecentSignatures.add_committed after the commit.
    """
    assert feed.id is not None
    articles = list(prepared.articles)
    if not articles:
        return []
    existing = article_store.articles_by_entry_key(
        session=session, feed_id=feed.id, entry_keys=[a.entry_key for a in articles]
    )
    # Canonical URL -> its first stored article, or None: looked up once for both uses below.
    by_url: dict[str, ArticleRecord | None] = {}
    articles = _apply_guid_stability(ctx, session, feed, articles, existing, by_url)
    fresh: list[Article] = []
    changed: list[tuple[Article, ArticleRecord]] = []
    for article in articles:
        row = existing.get(article.entry_key)
        if row is None:
            fresh.append(article)
        elif row.content_hash != article.content_hash:
            changed.append((article, row))
        else:
            outcome.unchanged += 1
    if not fresh and not changed:
        metrics.ENTRIES.labels(outcome="unchanged").inc(outcome.unchanged)
        return []
    matcher = ctx.matcher(session)
    to_enrich = fresh + [a for a, _ in changed]
    done = prepared.matches if prepared.matched_by == matcher.build_id else None
    matches = {
        a.entry_key: done[a.entry_key] if done and a.entry_key in done else matcher.match(a.text)
        for a in to_enrich
    }
    profile_ids = {m.profile_id for found in matches.values() for m in found}
    snapshots = ctx.snapshots.get(session, matcher, profile_ids)
    feed_ref = FeedRef(id=feed.id, url=feed.url, title=feed.title or prepared.title)
    writer = StoryWriter(
        ctx, session, feed_ref, snapshots, matches, discovered_at, prepared.signatures
    )
    writer.prefetch(fresh, by_url)
    for article, row in changed:
        writer.update(article, row)
        outcome.updated += 1
    new = writer.add_all(fresh)
    writer.finish()
    outcome.new += new
    outcome.duplicate += len(fresh) - new
    outcome.entities += writer.entities_attached
    for name in ("new", "updated", "duplicate", "unchanged"):
        metrics.ENTRIES.labels(outcome=name).inc(getattr(outcome, name))
    return writer.inserted


def _apply_guid_stability(
    ctx: PipelineContext,
    session: Session,
    feed: Feed,
    articles: list[Article],
    existing: dict[str, ArticleRecord],
    by_url: dict[str, ArticleRecord | None],
) -> list[Article]:
    """Detect a feed whose GUIDs change every poll, and re-key its entries by canonical link.

    Fills by_url with the canonical URLs it looked up (None for those not stored).
    """
    if feed.guid_unstable:
        return articles
    unknown = [a for a in articles if a.entry_key not in existing and a.canonical_url and a.guid]
    if not unknown:
        return articles
    assert feed.id is not None
    urls = {a.canonical_url for a in unknown if a.canonical_url}
    found = article_store.articles_by_canonical_url(session=session, canonical_urls=urls)
    by_url.update(dict.fromkeys(urls))
    by_url.update(found)
    previous = {url: row.guid for url, row in found.items() if row.feed_id == feed.id and row.guid}
    current = {a.canonical_url: a.guid for a in unknown if a.canonical_url and a.guid}
    if not guids_look_unstable(previous, current):
        return articles
    log.warning(
        "feed GUIDs are unstable; keying entries by canonical link",
        extra={"feed_id": feed.id, "feed_url": feed.url},
    )
    feed.guid_unstable = True
    rekeyed: list[Article] = []
    for article in articles:
        row = found.get(article.canonical_url or "")
        if article.entry_key not in existing and row is not None and row.feed_id == feed.id:
            # Keep the stored key so the article stays the same row and the same story.
            existing[row.entry_key] = row
            rekeyed.append(replace(article, entry_key=row.entry_key))
        else:
            rekeyed.append(article)
    return rekeyed
