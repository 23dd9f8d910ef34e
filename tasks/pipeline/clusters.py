"""Which story a batch's new article joins: one with its canonical URL, or with similar text.

Similar text joins syndicated copies across feeds. Within one feed it does not: a feed's entries
with different links are different posts (yearly announcements, listings from one template)
however alike their text, and an entry the feed itself updates keeps its GUID or its link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import Session

from newsworker.stages.normalize.near_duplicates import NearDuplicateIndex, text_signature
from newsworker.stages.records import Article
from newsworker.storage import articles as article_store
from newsworker.storage.models import ArticleRecord
from newsworker.tasks.pipeline.caches import RecentSignatures
from newsworker.tasks.pipeline.context import PipelineContext

# Texts shorter than this are too short for text similarity to mean anything.
MIN_SIMILAR_CHARS = 200


class BatchClusters:
    """Cluster lookups for one feed batch: stored and batch canonical URLs, and signatures."""

    def __init__(
        self,
        ctx: PipelineContext,
        session: Session,
        feed_id: int,
        discovered_at: datetime,
        signatures: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx, self.session, self.discovered_at = ctx, session, discovered_at
        self.feed_id = feed_id
        # Stories known to hold (or not to hold) an article of this feed.
        self._own_stories: set[str] = set()
        self._checked_stories: set[str] = set()
        self._batch_urls: dict[str, str] = {}
        # Rows of this uncommitted batch: the shared index only takes committed rows.
        self._batch_stories: dict[str, str] = {}
        self._batch_signatures = NearDuplicateIndex(ctx.near_duplicate_threshold)
        self._recent_refreshed = False
        self._stored_urls: dict[str, str] = {}
        # Per entry key: its signature (the prepare step's), and the stored story the
        # process-wide index points at.
        self._signatures: dict[str, str] = dict(signatures or {})
        self._recent_matches: dict[str, str | None] = {}

    def prefetch_urls(
        self, fresh: Sequence[Article], by_url: Mapping[str, ArticleRecord | None]
    ) -> set[str]:
        """Look up the batch's canonical URLs (those not in by_url); returns their story ids."""
        urls = {a.canonical_url for a in fresh if a.canonical_url}
        if self.ctx.dedupe_across_feeds and urls:
            found = dict(by_url)
            missing = urls - by_url.keys()
            if missing:
                found.update(
                    article_store.articles_by_canonical_url(
                        session=self.session, canonical_urls=missing
                    )
                )
            self._stored_urls = {
                url: row.story_id for url in urls if (row := found.get(url)) is not None
            }
        return set(self._stored_urls.values())

    def prefetch_similar(self, fresh: Sequence[Article]) -> set[str]:
        """Sign the batch and ask the process-wide index once; returns the stories it names.

        The index does not change during a batch, so its answers can be taken before placing.
        """
        for article in fresh:
            signature = self._signatures.get(article.entry_key)
            if signature is None:
                signature = self._signatures[article.entry_key] = text_signature(article.text)
            if self.ctx.dedupe_across_feeds and len(article.text) >= MIN_SIMILAR_CHARS:
                found = self._recent_signatures().find(signature)
                self._recent_matches[article.entry_key] = found
        similar = {s for s in self._recent_matches.values() if s}
        self._check_own(similar)
        return similar

    def signature(self, article: Article) -> str:
        """The article's text signature: the one signed before, else signed now."""
        signature = self._signatures.pop(article.entry_key, None)
        return text_signature(article.text) if signature is None else signature

    def find(self, article: Article, signature: str) -> str | None:
        """The story id of the article's cluster, when it has one."""
        if not self.ctx.dedupe_across_feeds:
            return None
        if article.canonical_url:
            if article.canonical_url in self._batch_urls:
                return self._batch_urls[article.canonical_url]
            if article.canonical_url in self._stored_urls:
                return self._stored_urls[article.canonical_url]
        if len(article.text) < MIN_SIMILAR_CHARS:
            return None
        if article.entry_key in self._recent_matches:
            similar = self._recent_matches[article.entry_key]
        else:
            similar = self._recent_signatures().find(signature)
        if similar is None:
            keys = self._batch_signatures.query(signature)
            similar = self._batch_stories[keys[0]] if keys else None
        if similar is not None and article.canonical_url and self._holds_own_article(similar):
            return None  # another post of this feed, at another link: not a copy of it
        return similar

    def remember(self, article: Article, story_id: str, signature: str) -> None:
        """Let later articles of the batch join the story this one was placed in."""
        self._own_stories.add(story_id)
        if article.canonical_url:
            self._batch_urls.setdefault(article.canonical_url, story_id)
        if signature:
            self._batch_signatures.add(article.entry_key, signature)
            self._batch_stories[article.entry_key] = story_id

    def _holds_own_article(self, story_id: str) -> bool:
        self._check_own({story_id})
        return story_id in self._own_stories

    def _check_own(self, story_ids: set[str]) -> None:
        """Learn which of these stories hold an article of this feed, in one query."""
        unknown = story_ids - self._checked_stories - self._own_stories
        if unknown:
            self._own_stories |= article_store.stories_with_articles_of_feed(
                session=self.session, feed_id=self.feed_id, story_ids=unknown
            )
            self._checked_stories |= unknown

    def _recent_signatures(self) -> RecentSignatures:
        if not self._recent_refreshed:
            self._recent_refreshed = True
            self.ctx.recent_signatures.refresh(
                self.session,
                since=self.discovered_at - self.ctx.near_duplicate_window,
                threshold=self.ctx.near_duplicate_threshold,
            )
        return self.ctx.recent_signatures
