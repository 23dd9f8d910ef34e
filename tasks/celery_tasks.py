"""The Celery tasks: thin, they pass ids and call the pipeline.

- dispatch_due_feeds (beat): claims due feeds and enqueues one poll per feed;
- poll_feed(feed_id): fetch, parse, normalize, enrich and store one feed's batch;
- publish_pending: relays the outbox to the sinks;
- refresh_profile_stories(profile_ids): re-publishes recent stories whose profiles changed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm.exc import StaleDataError

from newsworker.storage import feeds as feed_store
from newsworker.storage.coordination import lock_lease_within
from newsworker.storage.models import utcnow
from newsworker.tasks.leases import DISPATCH_LEASE
from newsworker.tasks.pipeline import poll_feed as run_poll
from newsworker.tasks.pipeline import refresh_profile_stories as run_refresh
from newsworker.tasks.publishing import relay_once
from newsworker.tasks.runtime import Runtime, get_runtime

log = logging.getLogger("newsworker.tasks")

# Infrastructure failures are retried by Celery; bad feeds never raise (they are recorded).
# redis-py's ConnectionError and TimeoutError do not derive from the builtins: name them, or a
# Redis restart fails the poll in hand for good (acked late, lost until the dispatch lease ends).
# StaleDataError: another worker updated the same story first (Story.revision is its optimistic
# lock); the retry reads the story again and applies this poll on top of it.
RETRYABLE = (
    OperationalError,
    DBAPIError,
    DBIntegrityError,
    StaleDataError,
    ConnectionError,
    TimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
)

# At most one relay run enqueued per this many seconds, fleet-wide.
PUBLISH_COALESCE_SECONDS = 1.0


def schedule_publish(runtime: Runtime) -> None:
    """Ask for a publish at the end of the current one-second window, once fleet-wide.

    Thousands of polls finishing together would otherwise each enqueue a relay run that finds
    little to do. The first poll of a window schedules one run for the window's end, so that run
    sees every event committed during the window (the caller has committed before it asks).
    """
    coordinator = runtime.context.coordinator
    if coordinator.first_in_window("publish-pending", PUBLISH_COALESCE_SECONDS):
        publish_pending.apply_async(countdown=PUBLISH_COALESCE_SECONDS)


@shared_task(name="newsworker.dispatch_due_feeds", ignore_result=True)
def dispatch_due_feeds(all_feeds: bool = False) -> int:
    """Claim due feeds in batches and enqueue one poll per feed; returns how many."""
    runtime = get_runtime()
    total = last_id = 0
    while True:
        with runtime.session() as session:
            ids = feed_store.claim_due_feeds(
                session=session,
                now=utcnow(),
                limit=runtime.settings.dispatch_batch_size,
                lease=DISPATCH_LEASE,
                include_not_due=all_feeds,
                after_id=last_id,
            )
        for feed_id in ids:
            poll_feed.delay(feed_id)
        total += len(ids)
        last_id = max(ids, default=last_id)
        if len(ids) < runtime.settings.dispatch_batch_size:
            break
    log.info("dispatched feeds", extra={"count": total})
    return total


@shared_task(
    name="newsworker.poll_feed",
    bind=True,
    ignore_result=True,
    autoretry_for=RETRYABLE,
    # Infrastructure retries fail fast and cost little: keep them frequent (at most 30 s
    # apart), so polls finish within half a minute of the database or Redis coming back.
    # 25 retries cover an outage of about 10 minutes; the dispatch lease covers anything longer.
    # Every countdown stays below the visibility timeout, so an ETA message is not redelivered
    # while a live worker holds it even if that worker's renewals stall (kombu #337).
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=25,
)
def poll_feed(self: Any, feed_id: int) -> dict[str, Any]:
    """Poll one feed by id."""
    runtime = get_runtime()
    try:
        outcome = run_poll(runtime.context, int(feed_id))
    except SoftTimeLimitExceeded:
        log.error("poll hit its soft time limit", extra={"feed_id": feed_id})
        raise
    if outcome.status == "locked" and _first_redelivery(self):
        # A crashed poll's copy can arrive before the dead poll's lock lapses (a pool child
        # killed mid-poll is requeued at once): look once more after one lock lease. A copy of
        # a poll still running then finds the feed locked again, or polled, and stops.
        lease = lock_lease_within(runtime.settings.visibility_timeout_seconds)
        log.info("redelivered poll found its feed locked", extra={"feed_id": feed_id})
        raise self.retry(countdown=lease + 1.0, max_retries=self.max_retries)
    log.info(
        "feed polled", extra={"feed_id": feed_id, "task_id": self.request.id, **outcome.as_dict()}
    )
    if (outcome.new or outcome.updated or outcome.duplicate) and not runtime.settings.eager:
        schedule_publish(runtime)
    return outcome.as_dict()


def _first_redelivery(task: Any) -> bool:
    """True for a message the broker put back (a lost worker's), not for one of our retries."""
    request = task.request
    return bool((request.delivery_info or {}).get("redelivered")) and not request.retries


@shared_task(
    name="newsworker.publish_pending",
    ignore_result=True,
    autoretry_for=RETRYABLE,
    retry_backoff=2,
    # Below the visibility timeout, like every countdown: see poll_feed.
    retry_backoff_max=30,
    max_retries=None,
)
def publish_pending() -> dict[str, Any]:
    """Relay pending outbox events to every sink."""
    report = relay_once(get_runtime())
    return {
        name: {"sent": r.sent, "failed": r.failed, "dead": r.dead}
        for name, r in report.sinks.items()
    }


@shared_task(
    name="newsworker.refresh_profile_stories",
    ignore_result=True,
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=12,
)
def refresh_profile_stories() -> int:
    """Re-publish recent stories whose profiles changed (the freshness window)."""
    runtime = get_runtime()
    window = timedelta(days=runtime.settings.profile_freshness_days)
    count = run_refresh(runtime.context, window=window)
    if count and not runtime.settings.eager:
        schedule_publish(runtime)
    return count
