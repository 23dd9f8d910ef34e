"""The story writer: places a feed batch's articles in stories and stages their story events.

New stories, their entity rows and every story event are collected in memory and written in
bulk by finish() through storage's statements: ORM objects and a flush per story cost more
than the rest of the batch's work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from newsworker.stages.enrich import attach_profiles
from newsworker.stages.publish.story import assemble_story, idempotency_key_for, story_id_for
from newsworker.stages.records import Article, AttachedEntity, FeedRef, ProfileSnapshot
from newsworker.storage import articles as article_store
from newsworker.storage import outbox
from newsworker.storage import stories as story_store
from newsworker.storage.models import ArticleRecord, Story
from newsworker.storage.story_payloads import story_payloads
from newsworker.tasks import metrics
from newsworker.tasks.pipeline.caches import SignedRow
from newsworker.tasks.pipeline.clusters import BatchClusters
from newsworker.tasks.pipeline.context import PipelineContext
from newsworker.tasks.pipeline.rows import article_values, copy_article


@dataclass(slots=True)
class NewStory:
    """A story this batch creates: kept in memory, inserted once in its final state by finish()."""

    story_id: str
    primary_article_id: int
    created_at: datetime
    revision: int = 0
    last_event: str = "created"
    payload: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _versions(payload: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["profile"]["version"] for e in payload.get("entities", [])}


class StoryWriter:
    """Stages articles, stories and outbox events for one feed batch in the caller's transaction."""

    def __init__(
        self,
        ctx: PipelineContext,
        session: Session,
        feed: FeedRef,
        snapshots: dict[str, ProfileSnapshot],
        matches: dict[str, Any],
        discovered_at: datetime,
        signatures: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx, self.session, self.feed = ctx, session, feed
        self.snapshots, self.matches, self.discovered_at = snapshots, matches, discovered_at
        self.entities_attached = 0
        # Article rows this batch inserted, for RecentSignatures.add_committed after the commit.
        self.inserted: list[SignedRow] = []
        self._entities_counted = self._without_entities = 0
        self._clusters = BatchClusters(ctx, session, feed.id, discovered_at, signatures)
        self._absent_stories: set[str] = set()
        # Held here: the session's identity map keeps only weak references to loaded stories.
        self._stored_stories: dict[str, Story] = {}
        # Latest payloads of stored stories (their last outbox event), loaded when needed.
        self._stored_payloads: dict[str, dict[str, Any]] = {}
        self._touched_stories: dict[str, Story] = {}
        self._placed: set[str] = set()  # story ids this batch creates or joins
        self._events: list[dict[str, Any]] = []
        self._new_stories: dict[str, NewStory] = {}
        # (story_id, profile_id) -> profile version, and stored stories whose rows are replaced.
        self._entity_rows: dict[tuple[str, str], str] = {}
        self._entities_replaced: set[str] = set()

    def prefetch(
        self, fresh: Sequence[Article], by_url: Mapping[str, ArticleRecord | None]
    ) -> None:
        """Look up the batch's canonical URLs (those not in by_url) and candidate stories."""
        by_stored_url = self._clusters.prefetch_urls(fresh, by_url)
        candidates = {
            story_id_for(
                canonical_url=a.canonical_url, feed_url=self.feed.url, entry_key=a.entry_key
            )
            for a in fresh
        } | by_stored_url
        stored = story_store.stories_by_id(session=self.session, story_ids=candidates)
        self._stored_stories.update(stored)
        self._absent_stories = candidates - stored.keys()
        self._load_payloads(stored)

    def update(self, article: Article, row: ArticleRecord) -> None:
        """An entry seen again with changed content: same story, next revision."""
        copy_article(row, article)
        row.revision += 1
        self.session.add(row)
        story = story_store.find_story(session=self.session, story_id=row.story_id)
        if story is None or story.primary_article_id != row.id:
            return  # a secondary copy in a cluster: stored, not re-announced
        self.republish(story, article)

    def republish(self, story: Story | NewStory, article: Article) -> None:
        """Announce the story's next revision: new content, or fresher profiles."""
        payload = self._payload(
            story_id=story.story_id,
            revision=story.revision + 1,
            event="updated",
            article=article,
            also=self._payload_of(story).get("also_reported_by", []),
        )
        self._emit(story, payload, _versions(payload))

    def add_all(self, fresh: Sequence[Article]) -> int:
        """New entries: new stories, or new sources of existing stories. Returns how many new.

        Stories are placed first, in order, then the articles go in with one bulk INSERT (an
        ORM object and a flush per article cost more than the rest of the batch's writes).
        """
        if not fresh:
            return 0
        self._prefetch_similar(fresh)
        placed = [self._place(article) for article in fresh]
        rows = [
            {**article_values(article), "story_id": story_id, "signature": signature,
             "revision": 1}
            for article, story_id, signature, _ in placed
        ]  # fmt: skip
        ids = article_store.insert_articles(session=self.session, feed_id=self.feed.id, rows=rows)
        self.inserted.extend(
            (row_id, story_id, signature, self.discovered_at)
            for (_, story_id, signature, _), row_id in zip(placed, ids, strict=True)
        )
        for (article, story_id, _, is_new), row_id in zip(placed, ids, strict=True):
            if not is_new:
                existing = self._story(story_id)
                assert existing is not None
                self._join(existing, article)
                continue
            story = self._new_stories[story_id] = NewStory(
                story_id=story_id, primary_article_id=row_id, created_at=self.discovered_at
            )
            payload = self._payload(
                story_id=story_id, revision=1, event="created", article=article, also=()
            )
            self._emit(story, payload, _versions(payload))
        return sum(1 for *_, is_new in placed if is_new)

    def finish(self) -> None:
        """Write the batch's story events, new stories and entity rows in a few bulk statements."""
        # Counted once a batch: a labelled metric per story costs more than its dict of the payload.
        for event, count in Counter(payload["event"] for payload in self._events).items():
            metrics.STORY_EVENTS.labels(event=event).inc(count)
        metrics.ENTITIES_ATTACHED.inc(self.entities_attached - self._entities_counted)
        metrics.STORIES_WITHOUT_ENTITIES.inc(self._without_entities)
        self._entities_counted, self._without_entities = self.entities_attached, 0
        event_ids = outbox.enqueue_story_batch(
            session=self.session, payloads=self._events, sinks=self.ctx.sink_names
        ).ids
        for story_id, story in self._touched_stories.items():
            story.last_event_id = event_ids[self._stored_payloads[story_id]["idempotency_key"]]
        story_store.insert_stories(
            session=self.session,
            rows=[
                {
                    "story_id": s.story_id,
                    "revision": s.revision,
                    "last_event": s.last_event,
                    "primary_article_id": s.primary_article_id,
                    "last_event_id": event_ids[s.payload["idempotency_key"]],
                    "created_at": s.created_at,
                    "updated_at": s.updated_at or s.created_at,
                }
                for s in self._new_stories.values()
            ],
        )
        story_store.delete_story_entities(
            session=self.session, story_ids=sorted(self._entities_replaced)
        )
        story_store.insert_story_entities(
            session=self.session,
            rows=[
                {"story_id": story_id, "profile_id": profile_id, "profile_version": version}
                for (story_id, profile_id), version in self._entity_rows.items()
            ],
        )
        self._new_stories.clear()
        self._touched_stories.clear()
        self._entity_rows.clear()
        self._entities_replaced.clear()
        self._events.clear()

    def _prefetch_similar(self, fresh: Sequence[Article]) -> None:
        """Load the stored stories the batch's near-duplicates point at, in one query.

        One IN query replaces a SELECT per clustered article.
        """
        wanted = self._clusters.prefetch_similar(fresh) - self._absent_stories
        wanted -= self._stored_stories.keys()
        if wanted:
            stored = story_store.stories_by_id(session=self.session, story_ids=wanted)
            self._stored_stories.update(stored)
            self._absent_stories |= wanted - stored.keys()
            self._load_payloads(stored)

    def _place(self, article: Article) -> tuple[Article, str, str, bool]:
        """The article's story id, its signature, and whether it starts a new story."""
        signature = self._clusters.signature(article)
        cluster_id = self._clusters.find(article, signature)
        # A cluster id without a story (an index entry from a rolled-back batch) is no cluster.
        if cluster_id and (cluster_id in self._placed or self._story(cluster_id) is not None):
            story_id = cluster_id
        else:
            story_id = story_id_for(
                canonical_url=article.canonical_url,
                feed_url=self.feed.url,
                entry_key=article.entry_key,
            )
        is_new = story_id not in self._placed and self._story(story_id) is None
        self._placed.add(story_id)
        self._clusters.remember(article, story_id, signature)
        return article, story_id, signature, is_new

    def _join(self, story: Story | NewStory, article: Article) -> None:
        latest = self._payload_of(story)
        also = list(latest.get("also_reported_by", []))
        source = {"feed_url": self.feed.url, "url": article.url or "", "title": article.title}
        if source in also:
            return
        also.append(source)
        payload = dict(latest)
        payload.update(
            revision=story.revision + 1,
            event="updated",
            idempotency_key=idempotency_key_for(story.story_id, story.revision + 1),
            occurred_at=_iso(self.discovered_at),
            also_reported_by=also,
        )
        # A new source does not change the story's entities: its entity rows stay as they are.
        self._emit(story, payload, None)

    def _load_payloads(self, story_ids: Iterable[str]) -> None:
        wanted = [i for i in story_ids if i not in self._stored_payloads]
        if wanted:
            self._stored_payloads.update(story_payloads(session=self.session, story_ids=wanted))

    def _payload_of(self, story: Story | NewStory) -> dict[str, Any]:
        """The story's latest payload: in memory for this batch's stories, else its last event."""
        if isinstance(story, NewStory):
            return story.payload
        self._load_payloads([story.story_id])
        return self._stored_payloads.get(story.story_id, {})

    def _story(self, story_id: str) -> Story | NewStory | None:
        new = self._new_stories.get(story_id)
        if new is not None:
            return new
        if story_id in self._absent_stories:
            return None
        stored = self._stored_stories.get(story_id)
        if stored is not None:
            return stored
        return story_store.find_story(session=self.session, story_id=story_id)

    def _entities(self, article: Article) -> tuple[AttachedEntity, ...]:
        entities = attach_profiles(self.matches.get(article.entry_key, []), self.snapshots)
        self.entities_attached += len(entities)
        self._without_entities += not entities
        return entities

    def _payload(
        self,
        *,
        story_id: str,
        revision: int,
        event: str,
        article: Article,
        also: Sequence[dict[str, str]],
    ) -> dict[str, Any]:
        return assemble_story(
            story_id=story_id,
            revision=revision,
            event=event,
            article=article,
            feed=self.feed,
            entities=self._entities(article),
            occurred_at=self.discovered_at,
            also_reported_by=also,
        )

    def _emit(
        self,
        story: Story | NewStory,
        payload: dict[str, Any],
        entity_versions: dict[str, str] | None,
    ) -> None:
        """Stage one story event; entity_versions replaces the entity set, None keeps it."""
        self._events.append(payload)
        story.revision = payload["revision"]
        story.last_event = payload["event"]
        story.updated_at = self.discovered_at
        if isinstance(story, Story):
            self._stored_payloads[story.story_id] = payload
            self._touched_stories[story.story_id] = story
            self.session.add(story)
        else:
            story.payload = payload
        if entity_versions is None:
            return
        story_id = story.story_id
        if story.revision > 1:
            stale = [key for key in self._entity_rows if key[0] == story_id]
            for key in stale:
                del self._entity_rows[key]
            if isinstance(story, Story):
                self._entities_replaced.add(story_id)
        for profile_id, version in entity_versions.items():
            self._entity_rows[(story_id, profile_id)] = version
