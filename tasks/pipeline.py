"""One feed's poll, end to end: fetch -> parse -> normalize -> enrich -> store + outbox.

The stages are pure; this module is the thin orchestration that hands their data to storage.
Every dependency with I/O (sessions, fetcher, coordinator, matcher) comes in through
PipelineContext, so the same code runs in eager mode, in a Celery worker and in tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, insert
from sqlmodel import Session, SQLModel, col, select

from newsworker.stages.enrich import EnrichPolicy, EntityMatcher, attach_profiles, render_story
from newsworker.stages.errors import FetchError, IngestError, ParseError, RateLimited
from newsworker.stages.normalize import (
    NormalizePolicy,
    guids_look_unstable,
)
from newsworker.stages.normalize.near_duplicates import NearDuplicateIndex, text_signature
from newsworker.stages.prepare import PreparedFeed, PrepareJob, prepare_feed
from newsworker.stages.publish import build_story, story_id_for
from newsworker.stages.records import (
    Article,
    AttachedEntity,
    Citation,
    FeedRef,
    FetchResult,
    ProfileSnapshot,
)
from newsworker.stages.schedule import (
    MAX_HINT_SECONDS,
    SchedulePolicy,
    interval_from_history,
    next_poll_after_success,
    next_redirect_state,
    plan_after_error,
)
from newsworker.storage import articles as article_store
from newsworker.storage import feeds as feed_store
from newsworker.storage import outbox
from newsworker.storage.coordination import PollSlot
from newsworker.storage.models import ArticleRecord, Feed, FeedStatus, Story, StoryEntity, utcnow
from newsworker.storage.profiles import load_snapshots, stories_to_refresh
from newsworker.tasks import metrics

log = logging.getLogger("newsworker.pipeline")


# An article row as the near-duplicate index holds it: id, story id, signature, discovered at.
SignedRow = tuple[int, str, str, datetime]


class RecentSignatures:
    """The process's LSH index over recent articles' signatures, refreshed by id deltas.

    Reading every recent signature on each poll cost a full window scan per feed (and a linear
    similarity scan per article); this keeps the index and reads only rows past the last id seen.
    """

    # Concurrent transactions can commit ids out of order: an id skipped by a read may still
    # commit. Skipped ids are re-checked for this long, then taken as rolled back or deleted.
    HOLE_SECONDS = 120.0
    MAX_HOLES = 10_000

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._index: NearDuplicateIndex | None = None
        self._stories: dict[str, str] = {}
        self._order: deque[tuple[str, datetime]] = deque()
        self._last_id = 0
        self._holes: dict[int, float] = {}

    def refresh(self, session: Session, *, since: datetime, threshold: float) -> None:
        """Add committed signatures newer than the last refresh; forget those out of the window."""
        with self._lock:
            if self._index is None or self._index.threshold != threshold:
                self._index, self._last_id = NearDuplicateIndex(threshold), 0
                self._stories.clear()
                self._order.clear()
                self._holes.clear()
            first_read = self._last_id == 0
            rows = list(
                article_store.signatures_after(
                    session=session, after_id=self._last_id, since=since, limit=self.limit
                )
            )
            now = time.monotonic()
            if self._holes:
                self._holes = {
                    i: seen for i, seen in self._holes.items() if now - seen < self.HOLE_SECONDS
                }
                rows[:0] = article_store.signatures_of(
                    session=session, ids=list(self._holes), since=since
                )
            previous = self._last_id
            for row_id, story_id, signature, discovered_at in rows:
                key = str(row_id)
                self._holes.pop(row_id, None)
                if not first_read and row_id > previous + 1 and len(self._holes) < self.MAX_HOLES:
                    # Ids between the last one read and this one: not committed yet, or rows
                    # without a signature. Either way re-checked until HOLE_SECONDS pass.
                    first_hole = max(previous + 1, row_id - self.MAX_HOLES)
                    self._holes.update(dict.fromkeys(range(first_hole, row_id), now))
                previous = max(previous, row_id)
                if key in self._stories:
                    continue
                self._index.add(key, signature)
                self._stories[key] = story_id
                self._order.append((key, discovered_at))
            self._last_id = previous
            while self._order and (self._order[0][1] < since or len(self._order) > self.limit):
                key, _ = self._order.popleft()
                self._index.remove(key)
                self._stories.pop(key, None)

    def add_committed(self, rows: Sequence[SignedRow]) -> None:
        """Index rows this process has just committed, so the next refresh need not read them.

        The last id read moves past them only when their ids follow it without a gap: an id in
        a gap may be another writer's, still uncommitted, and only a read can tell.
        """
        with self._lock:
            if self._index is None or not rows:
                return
            ids = sorted(row[0] for row in rows)
            follows = ids[0] == self._last_id + 1 and ids[-1] - ids[0] == len(ids) - 1
            for row_id, story_id, signature, discovered_at in rows:
                key = str(row_id)
                if signature and key not in self._stories:
                    self._index.add(key, signature)
                    self._stories[key] = story_id
                    self._order.append((key, discovered_at))
            if follows:
                self._last_id = ids[-1]

    def find(self, signature: str) -> str | None:
        """The story of the most similar indexed signature at or above the threshold."""
        with self._lock:
            if self._index is None:
                return None
            keys = self._index.query(signature)
            return self._stories[keys[0]] if keys else None


class SnapshotCache:
    """Profile snapshots of the current matcher's profile set, loaded once per process.

    A new matcher means the store's profile version changed, so the cache starts over; within
    one version a snapshot cannot change. Loading them per feed cost a query and an object per
    profile for every batch.
    """

    # About 1 KB a snapshot: a full cache starts over, so it stays near 10 MB per process.
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._matcher: object | None = None
        self._snapshots: dict[str, ProfileSnapshot | None] = {}

    def get(
        self, session: Session, matcher: object, ids: Iterable[str]
    ) -> dict[str, ProfileSnapshot]:
        """Snapshots of ids (unknown ids left out), valid for matcher's profile set."""
        with self._lock:
            if matcher is not self._matcher or len(self._snapshots) > self.limit:
                self._matcher = matcher
                self._snapshots = {}
            cached = self._snapshots
            wanted = set(ids)
            missing = wanted - cached.keys()
            if missing:
                loaded = load_snapshots(session=session, ids=missing)
                for profile_id in missing:
                    cached[profile_id] = loaded.get(profile_id)
            return {i: snapshot for i in wanted if (snapshot := cached[i]) is not None}


class FeedFetcher(Protocol):
    """What the pipeline needs from newsworker.stages.fetch.Fetcher."""

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        previous_body_hash: str | None = None,
    ) -> FetchResult: ...


class PollCoordinator(Protocol):
    """What the pipeline needs from newsworker.storage.coordination.Coordinator."""

    def begin_poll(
        self, feed_id: int, *, lock_seconds: float, host: str, max_wait_seconds: float
    ) -> PollSlot: ...

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None) -> None: ...

    def record_poll_outcome(self, ok: bool) -> None: ...

    def probable_outage(self) -> bool: ...

    def first_in_window(self, name: str, window_seconds: float) -> bool: ...


@dataclass(frozen=True)
class PipelineContext:
    """Everything a poll needs, built once per process."""

    session_factory: Callable[[], Session]
    fetcher: FeedFetcher
    coordinator: PollCoordinator
    matcher: Callable[[Session], EntityMatcher]
    sink_names: tuple[str, ...]
    normalize_policy: NormalizePolicy = field(default_factory=NormalizePolicy)
    schedule_policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    enrich_policy: EnrichPolicy = field(default_factory=EnrichPolicy)
    redirect_confirmations: int = 3
    feed_lock_seconds: int = 300
    dedupe_across_feeds: bool = True
    near_duplicate_threshold: float = 0.5
    near_duplicate_window: timedelta = timedelta(days=2)
    # Entries taken from one poll, in feed order: a feed of 50,000 entries would hold a worker
    # past its time limit on every poll (and retry forever); the rest waits for later polls.
    max_entries_per_poll: int = 1000
    # Waiting this long for a host slot is fine inside a task; longer defers the feed.
    max_host_wait_seconds: float = 2.0
    now: Callable[[], datetime] = utcnow
    recent_signatures: RecentSignatures = field(default_factory=RecentSignatures)
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)


@dataclass
class PollOutcome:
    """What one poll did; logged, counted and returned by the task."""

    feed_id: int
    status: str = "ok"  # ok, not_modified, skipped, locked, throttled, error
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    unchanged: int = 0
    rejected: int = 0
    entities: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for task results and logs."""
        return dict(self.__dict__)


# A poll as steps: it yields its PrepareJob once and is resumed with the PreparedFeed (or has
# the prepare step's ParseError thrown in). Between the two, the prepare step can run anywhere.
PollSteps = Generator[PrepareJob, PreparedFeed, PollOutcome]


def poll_feed(ctx: PipelineContext, feed_id: int) -> PollOutcome:
    """Fetch one feed and store what is new; raises only for infrastructure faults."""
    steps = poll_steps(ctx, feed_id)
    try:
        job = next(steps)
    except StopIteration as stop:
        return _outcome_of(stop)
    return complete_poll(steps, prepare_here(job))


def complete_poll(steps: PollSteps, prepared: Callable[[], PreparedFeed]) -> PollOutcome:
    """Resume a poll waiting on its prepare step with what `prepared` returns (or raises)."""
    try:
        result = prepared()
    except ParseError as e:
        resume: Callable[[], PrepareJob] = partial(steps.throw, e)
    except BaseException:
        steps.close()  # runs the poll's finally: the feed lock is released
        raise
    else:
        resume = partial(steps.send, result)
    try:
        resume()
    except StopIteration as stop:
        return _outcome_of(stop)
    steps.close()
    raise RuntimeError("a poll asked for its prepare step twice")


def poll_feeds(
    ctx: PipelineContext,
    feed_ids: Iterable[int],
    submit: Callable[[PrepareJob], Callable[[], PreparedFeed]],
    *,
    ahead: int,
) -> Iterator[PollOutcome]:
    """Poll feeds in order, preparing up to `ahead` later feeds while each one is stored.

    `submit` starts a prepare step (in-line, or in another process) and returns what waits for
    it. Storing stays in feed order in this process, so each feed's outcome is poll_feed's.
    """
    waiting: deque[tuple[PollSteps, Callable[[], PreparedFeed]]] = deque()
    try:
        for feed_id in feed_ids:
            steps = poll_steps(ctx, feed_id)
            try:
                job = next(steps)
            except StopIteration as stop:
                yield _outcome_of(stop)
                continue
            try:
                waiting.append((steps, submit(job)))
            except BaseException:
                steps.close()
                raise
            while len(waiting) > ahead:
                yield complete_poll(*waiting.popleft())
        while waiting:
            yield complete_poll(*waiting.popleft())
    finally:
        for steps, _ in waiting:  # an error or an abandoned run: release their feed locks
            steps.close()


def prepare_here(job: PrepareJob) -> Callable[[], PreparedFeed]:
    """poll_feeds' submit for the prepare step in this process, when it is waited for."""
    return partial(prepare_feed, job)


def _outcome_of(stop: StopIteration) -> PollOutcome:
    outcome: PollOutcome = stop.value
    return outcome


def poll_steps(ctx: PipelineContext, feed_id: int) -> PollSteps:
    """poll_feed as steps: lock, fetch, yield the body to prepare, then store and unlock."""
    started = time.perf_counter()
    outcome = PollOutcome(feed_id=feed_id)
    with ctx.session_factory() as session:
        feed = feed_store.get_feed(session=session, feed_id=feed_id)
        if feed is None or feed.status not in FeedStatus.POLLABLE:
            outcome.status = "skipped"
            return outcome
        slot = ctx.coordinator.begin_poll(
            feed_id,
            lock_seconds=ctx.feed_lock_seconds,
            host=urlsplit(feed.url).hostname or "",
            max_wait_seconds=ctx.max_host_wait_seconds,
        )
        if slot.token is None:
            metrics.FEED_LOCK_BUSY.inc()
            outcome.status = "locked"
            return outcome
        fetched: bool | None = None
        try:
            fetched = yield from _poll_locked(ctx, session, feed, outcome, slot.wait_seconds)
        finally:
            # A successful fetch joins the outage window here, with the unlock: one round trip.
            ctx.coordinator.end_poll(feed_id, slot.token, outcome=fetched)
    metrics.POLL_SECONDS.observe(time.perf_counter() - started)
    return outcome


def _poll_locked(
    ctx: PipelineContext, session: Session, feed: Feed, outcome: PollOutcome, wait: float
) -> Generator[PrepareJob, PreparedFeed, bool | None]:
    """Poll a locked feed; True when the fetch succeeded (a failure records its own outcome)."""
    now = ctx.now()
    if wait > ctx.max_host_wait_seconds:
        metrics.HOST_THROTTLED.inc()
        feed.next_poll_at = now + timedelta(seconds=wait)
        session.add(feed)
        session.commit()
        outcome.status = "throttled"
        return None
    if wait > 0:
        time.sleep(wait)
    fetch_started = time.perf_counter()
    try:
        result = ctx.fetcher.fetch(
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            previous_body_hash=feed.body_hash,
        )
    except IngestError as e:
        metrics.FETCH_SECONDS.observe(time.perf_counter() - fetch_started)
        metrics.FETCHES.labels(outcome=e.kind).inc()
        _record_failure(ctx, session, feed, e, outcome)
        return None
    metrics.FETCH_SECONDS.observe(time.perf_counter() - fetch_started)
    _follow_redirect(ctx, feed, result)
    feed.etag, feed.last_modified = result.etag, result.last_modified
    if result.not_modified or result.body is None:
        metrics.FETCHES.labels(outcome="not_modified").inc()
        outcome.status = "not_modified"
        _schedule_success(ctx, session, feed, result, entry_times=(), ttl_seconds=None)
        session.commit()
        return True
    metrics.FETCHES.labels(outcome=f"{result.status // 100}xx").inc()
    try:
        prepared = yield PrepareJob(
            body=result.body,
            body_url=result.final_url,
            content_type=result.content_type,
            feed_url=feed.url,
            feed_language=feed.language,
            guid_unstable=feed.guid_unstable,
            known_fingerprints=frozenset((feed.entry_fingerprints or "").split()),
            max_entries=ctx.max_entries_per_poll,
            discovered_at=now,
            policy=ctx.normalize_policy,
        )
    except ParseError as e:
        metrics.PARSE_ERRORS.inc()
        _record_failure(ctx, session, feed, e, outcome)
        return True
    _record_prepare_problems(ctx, session, feed, prepared, outcome)
    inserted = ingest_prepared(ctx, session, feed, prepared, outcome, discovered_at=now)
    # Set after ingesting: set before, the feed row would be flushed by ingest's first query and
    # updated a second time at commit.
    feed.body_hash = result.body_hash
    feed.title = feed.title or prepared.title
    feed.site_url = prepared.link or feed.site_url
    feed.language = prepared.language
    outcome.unchanged += prepared.unchanged
    metrics.ENTRIES.labels(outcome="unchanged").inc(prepared.unchanged)
    feed.entry_fingerprints = " ".join(prepared.fingerprints)
    _schedule_success(ctx, session, feed, result, prepared.entry_times, prepared.ttl_seconds)
    session.commit()
    # Indexed now, not read back by the next batch's refresh (the rows this process just wrote).
    ctx.recent_signatures.add_committed(inserted)
    return True


def _record_prepare_problems(
    ctx: PipelineContext, session: Session, feed: Feed, prepared: PreparedFeed, outcome: PollOutcome
) -> None:
    """Record a cut feed and each rejected entry as feed errors, and count them."""
    assert feed.id is not None
    if prepared.capped:
        feed_store.record_feed_error(
            session=session,
            feed_id=feed.id,
            kind="entries_capped",
            message=(
                f"{feed.url} has {prepared.entry_count} entries; "
                f"took the first {ctx.max_entries_per_poll}"
            ),
        )
    for message in prepared.rejected:
        outcome.rejected += 1
        metrics.ENTRIES.labels(outcome="rejected").inc()
        feed_store.record_feed_error(
            session=session, feed_id=feed.id, kind="entry_rejected", message=message
        )


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
    writer = _StoryWriter(
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


@dataclass(slots=True)
class _NewStory:
    """A story this batch creates: kept in memory, inserted once in its final state by finish()."""

    story_id: str
    primary_article_id: int
    created_at: datetime
    revision: int = 0
    last_event: str = "created"
    payload: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


# Story ids per DELETE ... IN, well under either database's bound-parameter limit.
_DELETE_CHUNK = 1_000


def _table(model: type[SQLModel]) -> Table:
    """The Core table of a model: Core executemany skips the ORM's per-row bulk bookkeeping."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class _StoryWriter:
    """Stages articles, stories and outbox events for one feed batch in the caller's transaction.

    New stories, their entity rows and every story event are collected and written in bulk by
    finish(): ORM objects and a flush per story cost more than the rest of the batch's work.
    """

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
        self._batch_urls: dict[str, str] = {}
        # Rows of this uncommitted batch: the shared index only takes committed rows.
        self._batch_stories: dict[str, str] = {}
        self._batch_signatures = NearDuplicateIndex(ctx.near_duplicate_threshold)
        self._recent_refreshed = False
        self._stored_urls: dict[str, str] = {}
        self._absent_stories: set[str] = set()
        # Held here: the session's identity map keeps only weak references to loaded stories.
        self._stored_stories: dict[str, Story] = {}
        # Latest payloads of stored stories (their last outbox event), loaded when needed.
        self._stored_payloads: dict[str, dict[str, Any]] = {}
        self._touched_stories: dict[str, Story] = {}
        self._placed: set[str] = set()  # story ids this batch creates or joins
        # Per entry key: its signature (the prepare step's), and the stored story the
        # process-wide index points at.
        self._signatures: dict[str, str] = dict(signatures or {})
        self._recent_matches: dict[str, str | None] = {}
        self._events: list[dict[str, Any]] = []
        self._new_stories: dict[str, _NewStory] = {}
        # (story_id, profile_id) -> profile version, and stored stories whose rows are replaced.
        self._entity_rows: dict[tuple[str, str], str] = {}
        self._entities_replaced: set[str] = set()

    def prefetch(
        self, fresh: Sequence[Article], by_url: Mapping[str, ArticleRecord | None]
    ) -> None:
        """Look up the batch's canonical URLs (those not in by_url) and candidate stories."""
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
        candidates = {
            story_id_for(
                canonical_url=a.canonical_url, feed_url=self.feed.url, entry_key=a.entry_key
            )
            for a in fresh
        } | set(self._stored_urls.values())
        stored = article_store.stories_by_id(session=self.session, story_ids=candidates)
        self._stored_stories.update(stored)
        self._absent_stories = candidates - stored.keys()
        self._load_payloads(stored)

    def _load_payloads(self, story_ids: Iterable[str]) -> None:
        wanted = [i for i in story_ids if i not in self._stored_payloads]
        if wanted:
            self._stored_payloads.update(
                outbox.story_payloads(session=self.session, story_ids=wanted)
            )

    def _payload_of(self, story: Story | _NewStory) -> dict[str, Any]:
        """The story's latest payload: in memory for this batch's stories, else its last event."""
        if isinstance(story, _NewStory):
            return story.payload
        self._load_payloads([story.story_id])
        return self._stored_payloads.get(story.story_id, {})

    def _story(self, story_id: str) -> Story | _NewStory | None:
        new = self._new_stories.get(story_id)
        if new is not None:
            return new
        if story_id in self._absent_stories:
            return None
        stored = self._stored_stories.get(story_id)
        return stored if stored is not None else self.session.get(Story, story_id)

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
        entities = self._entities(article)
        rendered = render_story(
            title=article.title, text=article.text, entities=entities, sources=article.sources
        )
        return build_story(
            story_id=story_id,
            revision=revision,
            event=event,
            article=article,
            feed=self.feed,
            entities=entities,
            rendered=rendered,
            occurred_at=self.discovered_at,
            also_reported_by=also,
        )

    def _emit(
        self,
        story: Story | _NewStory,
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

    def finish(self) -> None:
        """Write the batch's story events, new stories and entity rows in a few bulk statements."""
        # Counted once a batch: a labelled metric per story cost more than its dict of the payload.
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
        if self._new_stories:
            self.session.connection().execute(
                insert(_table(Story)),
                [
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
        replaced = sorted(self._entities_replaced)
        for start in range(0, len(replaced), _DELETE_CHUNK):
            self.session.execute(
                delete(StoryEntity).where(
                    col(StoryEntity.story_id).in_(replaced[start : start + _DELETE_CHUNK])
                )
            )
        if self._entity_rows:
            self.session.connection().execute(
                insert(_table(StoryEntity)),
                [
                    {"story_id": story_id, "profile_id": profile_id, "profile_version": version}
                    for (story_id, profile_id), version in self._entity_rows.items()
                ],
            )
        self._new_stories.clear()
        self._touched_stories.clear()
        self._entity_rows.clear()
        self._entities_replaced.clear()
        self._events.clear()

    @staticmethod
    def _versions(payload: dict[str, Any]) -> dict[str, str]:
        return {e["id"]: e["profile"]["version"] for e in payload.get("entities", [])}

    def update(self, article: Article, row: ArticleRecord) -> None:
        """An entry seen again with changed content: same story, next revision."""
        _copy_article(row, article)
        row.revision += 1
        self.session.add(row)
        story = self.session.get(Story, row.story_id)
        if story is None or story.primary_article_id != row.id:
            return  # a secondary copy in a cluster: stored, not re-announced
        self.republish(story, article)

    def republish(self, story: Story | _NewStory, article: Article) -> None:
        """Announce the story's next revision: new content, or fresher profiles."""
        payload = self._payload(
            story_id=story.story_id,
            revision=story.revision + 1,
            event="updated",
            article=article,
            also=self._payload_of(story).get("also_reported_by", []),
        )
        self._emit(story, payload, self._versions(payload))

    def add_all(self, fresh: Sequence[Article]) -> int:
        """New entries: new stories, or new sources of existing stories. Returns how many new.

        Stories are placed first, in order, then the articles go in with one bulk INSERT (an
        ORM object and a flush per article cost more than the rest of the batch's writes).
        """
        if not fresh:
            return 0
        self._prefetch_clusters(fresh)
        placed = [self._place(article) for article in fresh]
        rows = [
            {**_article_values(article), "story_id": story_id, "signature": signature,
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
            story = self._new_stories[story_id] = _NewStory(
                story_id=story_id, primary_article_id=row_id, created_at=self.discovered_at
            )
            payload = self._payload(
                story_id=story_id, revision=1, event="created", article=article, also=()
            )
            self._emit(story, payload, self._versions(payload))
        return sum(1 for *_, is_new in placed if is_new)

    def _prefetch_clusters(self, fresh: Sequence[Article]) -> None:
        """Sign the batch and load the stored stories its near-duplicates point at, in one query.

        The process-wide index does not change during a batch, so its answers can be taken
        before placing; one IN query then replaces a SELECT per clustered article.
        """
        for article in fresh:
            signature = self._signatures.get(article.entry_key)
            if signature is None:
                signature = self._signatures[article.entry_key] = text_signature(article.text)
            if self.ctx.dedupe_across_feeds and len(article.text) >= 200:
                found = self._recent_signatures().find(signature)
                self._recent_matches[article.entry_key] = found
        wanted = {s for s in self._recent_matches.values() if s} - self._absent_stories
        wanted -= self._stored_stories.keys()
        if wanted:
            stored = article_store.stories_by_id(session=self.session, story_ids=wanted)
            self._stored_stories.update(stored)
            self._absent_stories |= wanted - stored.keys()
            self._load_payloads(stored)

    def _place(self, article: Article) -> tuple[Article, str, str, bool]:
        """The article's story id, its signature, and whether it starts a new story."""
        signature = self._signatures.pop(article.entry_key, None)
        if signature is None:
            signature = text_signature(article.text)
        cluster_id = self._find_cluster(article, signature)
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
        if article.canonical_url:
            self._batch_urls.setdefault(article.canonical_url, story_id)
        if signature:
            self._batch_signatures.add(article.entry_key, signature)
            self._batch_stories[article.entry_key] = story_id
        return article, story_id, signature, is_new

    def _join(self, story: Story | _NewStory, article: Article) -> None:
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
            idempotency_key=f"{story.story_id}:{story.revision + 1}",
            occurred_at=_iso(self.discovered_at),
            also_reported_by=also,
        )
        # A new source does not change the story's entities: its entity rows stay as they are.
        self._emit(story, payload, None)

    def _find_cluster(self, article: Article, signature: str) -> str | None:
        if not self.ctx.dedupe_across_feeds:
            return None
        if article.canonical_url:
            if article.canonical_url in self._batch_urls:
                return self._batch_urls[article.canonical_url]
            if article.canonical_url in self._stored_urls:
                return self._stored_urls[article.canonical_url]
        if len(article.text) < 200:
            return None  # too short for text similarity to mean anything
        if article.entry_key in self._recent_matches:
            similar = self._recent_matches[article.entry_key]
        else:
            similar = self._recent_signatures().find(signature)
        if similar is None:
            keys = self._batch_signatures.query(signature)
            similar = self._batch_stories[keys[0]] if keys else None
        return similar

    def _recent_signatures(self) -> RecentSignatures:
        if not self._recent_refreshed:
            self._recent_refreshed = True
            self.ctx.recent_signatures.refresh(
                self.session,
                since=self.discovered_at - self.ctx.near_duplicate_window,
                threshold=self.ctx.near_duplicate_threshold,
            )
        return self.ctx.recent_signatures


def refresh_profile_stories(ctx: PipelineContext, *, window: timedelta, limit: int = 500) -> int:
    """Re-publish recent stories whose attached profiles changed since, as `event: updated`."""
    now = ctx.now()
    with ctx.session_factory() as session:
        story_ids = stories_to_refresh(session=session, since=now - window)[:limit]
        if not story_ids:
            return 0
        stories = article_store.stories_by_id(session=session, story_ids=story_ids)
        rows = {
            row.id: row
            for row in session.exec(
                select(ArticleRecord).where(
                    col(ArticleRecord.id).in_([s.primary_article_id for s in stories.values()])
                )
            ).all()
        }
        matcher = ctx.matcher(session)
        refreshed = 0
        for story in stories.values():
            row = rows.get(story.primary_article_id)
            feed = feed_store.get_feed(session=session, feed_id=row.feed_id) if row else None
            if row is None or feed is None or feed.id is None:
                continue
            article = _article_of(row)
            matches = {article.entry_key: matcher.match(article.text)}
            ids = {m.profile_id for m in matches[article.entry_key]}
            snapshots = load_snapshots(session=session, ids=ids)
            feed_ref = FeedRef(id=feed.id, url=feed.url, title=feed.title)
            writer = _StoryWriter(ctx, session, feed_ref, snapshots, matches, now)
            writer.republish(story, article)
            writer.finish()
            refreshed += 1
        session.commit()
    log.info("re-published stories with changed profiles", extra={"stories": refreshed})
    return refreshed


def _article_of(row: ArticleRecord) -> Article:
    return Article(
        entry_key=row.entry_key,
        title=row.title,
        url=row.url,
        canonical_url=row.canonical_url,
        summary=row.summary,
        text=row.text,
        content_html=row.content_html,
        language=row.language,
        published_at=row.published_at,
        updated_at=row.updated_at,
        discovered_at=row.discovered_at,
        content_hash=row.content_hash,
        author=row.author,
        flags=tuple(row.flags),
        sources=tuple(
            Citation(number=int(s["number"]), title=str(s["title"]), url=str(s["url"]))
            for s in row.sources
        ),
        guid=row.guid,
    )


def _article_values(article: Article) -> dict[str, Any]:
    return {
        "entry_key": article.entry_key,
        "guid": article.guid,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "summary": article.summary,
        "text": article.text,
        "content_html": article.content_html,
        "language": article.language,
        "author": article.author,
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "discovered_at": article.discovered_at,
        "content_hash": article.content_hash,
        "flags": list(article.flags),
        "sources": [{"number": s.number, "title": s.title, "url": s.url} for s in article.sources],
    }


def _copy_article(row: ArticleRecord, article: Article) -> None:
    discovered_at = row.discovered_at
    for name, value in _article_values(article).items():
        setattr(row, name, value)
    row.discovered_at = discovered_at or article.discovered_at


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _follow_redirect(ctx: PipelineContext, feed: Feed, result: FetchResult) -> None:
    new_url, candidate, count = next_redirect_state(
        feed.url,
        feed.redirect_candidate_url,
        feed.redirect_candidate_count,
        result.permanent_redirect_url,
        ctx.redirect_confirmations,
    )
    feed.redirect_candidate_url, feed.redirect_candidate_count = candidate, count
    if new_url and new_url != feed.url:
        log.info(
            "feed moved permanently",
            extra={"feed_id": feed.id, "feed_url": feed.url, "new_url": new_url},
        )
        feed.url_history = [*feed.url_history, feed.url]
        feed.url = new_url


def _schedule_success(
    ctx: PipelineContext,
    session: Session,
    feed: Feed,
    result: FetchResult,
    entry_times: Iterable[datetime],
    ttl_seconds: int | None,
) -> None:
    now = ctx.now()
    times = list(entry_times)
    wait = feed.interval_seconds
    if times or feed.interval_override_seconds or ttl_seconds:
        feed.interval_seconds = wait = interval_from_history(
            times,
            now=now,
            policy=ctx.schedule_policy,
            feed_ttl_seconds=ttl_seconds,
            min_refresh_seconds=result.min_refresh_seconds,
            override_seconds=feed.interval_override_seconds,
        )
    elif result.min_refresh_seconds:
        # A 304 can carry Retry-After or max-age: honour it for this wait only.
        wait = max(wait, int(min(result.min_refresh_seconds, MAX_HINT_SECONDS)))
    feed.next_poll_at = next_poll_after_success(
        now=now, interval_seconds=wait, policy=ctx.schedule_policy
    )
    feed.last_polled_at = now
    feed.last_success_at = now
    feed.error_count = 0
    if feed.status == FeedStatus.FAILING:
        feed.status = FeedStatus.ACTIVE
    session.add(feed)


def _record_failure(
    ctx: PipelineContext, session: Session, feed: Feed, error: IngestError, outcome: PollOutcome
) -> None:
    assert feed.id is not None
    now = ctx.now()
    outcome.status, outcome.error = "error", str(error)
    metrics.FEED_ERRORS.labels(kind=error.kind).inc()
    outage = False
    if isinstance(error, FetchError) and error.counts_as_error:
        ctx.coordinator.record_poll_outcome(False)
        # Most polls failing at once means the network is down, not this feed: do not count it,
        # so healthy feeds do not drift into long backoff.
        outage = ctx.coordinator.probable_outage()
    plan = plan_after_error(
        error, error_count=feed.error_count, now=now, policy=ctx.schedule_policy, outage=outage
    )
    if isinstance(error, RateLimited):
        outcome.status = "throttled"
    feed.error_count, feed.status, feed.next_poll_at = (
        plan.error_count,
        plan.status,
        plan.next_poll_at,
    )
    if plan.disabled_reason:
        feed.disabled_reason = plan.disabled_reason
    feed.last_polled_at = now
    feed.last_error, feed.last_error_at = f"{error.kind}: {error}", now
    feed_store.record_feed_error(
        session=session, feed_id=feed.id, kind=error.kind, message=str(error), at=now
    )
    log.warning(
        "feed poll failed",
        extra={
            "feed_id": feed.id,
            "feed_url": feed.url,
            "error": str(error),
            "kind": error.kind,
            "counted": plan.counted,
            "probable_outage": outage,
        },
    )
    session.add(feed)
    session.commit()
