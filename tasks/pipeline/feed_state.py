"""A feed row's polling state after a poll: schedule, errors, permanent redirects."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session

from newsworker.stages.errors import FetchError, IngestError, RateLimited
from newsworker.stages.prepare import PreparedFeed
from newsworker.stages.records import FetchResult
from newsworker.stages.schedule import (
    MAX_HINT_SECONDS,
    interval_from_history,
    next_poll_after_success,
    next_redirect_state,
    plan_after_error,
)
from newsworker.storage import feeds as feed_store
from newsworker.storage.models import Feed, FeedStatus
from newsworker.tasks import metrics
from newsworker.tasks.pipeline.context import PipelineContext, PollOutcome
from newsworker.tasks.pipeline.rejections import record_rejected_entries

log = logging.getLogger("newsworker.pipeline")


def follow_redirect(ctx: PipelineContext, feed: Feed, result: FetchResult) -> None:
    """Move the feed to a permanent redirect's target once it has been confirmed enough times."""
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


def schedule_success(
    ctx: PipelineContext,
    session: Session,
    feed: Feed,
    result: FetchResult,
    entry_times: Iterable[datetime],
    ttl_seconds: int | None,
) -> None:
    """Schedule the next poll after a successful fetch and clear the feed's error count."""
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


def record_failure(
    ctx: PipelineContext, session: Session, feed: Feed, error: IngestError, outcome: PollOutcome
) -> None:
    """Record a failed poll on the feed and its outcome, back off, and commit."""
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


def record_prepare_problems(
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
    record_rejected_entries(session, feed.id, prepared.rejected, outcome)
