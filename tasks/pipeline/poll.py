"""One feed's poll, end to end: lock, fetch, prepare (parse + normalize + match), store, unlock.

The stages are pure; this is the thin orchestration that hands their data to storage. A poll
runs as steps so that its prepare step can run in another process while others are stored.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import timedelta
from functools import partial

from sqlmodel import Session

from newsworker.stages.errors import IngestError, ParseError
from newsworker.stages.fetch.urls import host_of
from newsworker.stages.prepare import PreparedFeed, PrepareJob, prepare_feed
from newsworker.storage import feeds as feed_store
from newsworker.storage.models import Feed, FeedStatus
from newsworker.tasks import metrics
from newsworker.tasks.pipeline.context import PipelineContext, PollOutcome
from newsworker.tasks.pipeline.feed_state import (
    follow_redirect,
    record_failure,
    record_prepare_problems,
    schedule_success,
)
from newsworker.tasks.pipeline.ingest import ingest_prepared

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
            host=host_of(feed.url),
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
        record_failure(ctx, session, feed, e, outcome)
        return None
    metrics.FETCH_SECONDS.observe(time.perf_counter() - fetch_started)
    follow_redirect(ctx, feed, result)
    feed.etag, feed.last_modified = result.etag, result.last_modified
    if result.not_modified or result.body is None:
        metrics.FETCHES.labels(outcome="not_modified").inc()
        outcome.status = "not_modified"
        schedule_success(ctx, session, feed, result, entry_times=(), ttl_seconds=None)
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
        record_failure(ctx, session, feed, e, outcome)
        return True
    record_prepare_problems(ctx, session, feed, prepared, outcome)
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
    schedule_success(ctx, session, feed, result, prepared.entry_times, prepared.ttl_seconds)
    session.commit()
    # Indexed here, not read back by the next batch's refresh (the rows this process just wrote).
    ctx.recent_signatures.add_committed(inserted)
    return True
