"""Pure scheduling policy: adaptive intervals, error backoff, failing status, outage ratio.

Nothing here touches the clock, the network or a store: callers pass `now` and an `rng`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from newsworker.stages.errors import FeedGone, IngestError, RateLimited

# A feed's own refresh hints (TTL, max-age, Expires, Retry-After) are honoured up to this,
# so a misconfigured `max-age=31536000` cannot park a feed for a year.
MAX_HINT_SECONDS = 7 * 86400
# How many of a feed's most recent entries the adaptive interval looks at.
HISTORY_ENTRIES = 20


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """Bounds of the adaptive interval and of error backoff (tasks/runtime.py fills it in)."""

    min_interval: int = 300
    max_interval: int = 86400
    default_interval: int = 900
    max_backoff: int = 21600
    failing_after_errors: int = 5
    jitter_fraction: float = 0.1
    # First error waits this long; each further error doubles it, up to max_backoff.
    base_backoff: int = 60
    # While a probable network outage lasts, failed feeds retry after this, uncounted.
    outage_retry: int = 300


def interval_from_history(
    entry_times: Sequence[datetime],
    *,
    now: datetime,
    policy: SchedulePolicy,
    feed_ttl_seconds: float | None = None,
    min_refresh_seconds: float | None = None,
    override_seconds: int | None = None,
) -> int:
    """Seconds until the next poll, from how often the feed publishes; override wins."""
    if override_seconds is not None and override_seconds > 0:
        return int(override_seconds)
    times = sorted({t for t in entry_times if t <= now})[-HISTORY_ENTRIES:]
    if len(times) < 2:
        interval = float(policy.default_interval)
    else:
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        typical_gap = median(g for g in gaps if g > 0) if any(g > 0 for g in gaps) else 0.0
        # Poll about twice per typical gap, and slow down once the feed has gone quiet.
        interval = typical_gap / 2
        silence = (now - times[-1]).total_seconds()
        if silence > 2 * typical_gap:
            interval = max(interval, silence / 4)
    interval = min(max(interval, policy.min_interval), policy.max_interval)
    hints = [h for h in (feed_ttl_seconds, min_refresh_seconds) if h is not None and h > 0]
    if hints:
        interval = max(interval, min(max(hints), MAX_HINT_SECONDS))
    return round(interval)


def jittered(seconds: float, *, policy: SchedulePolicy, rng: random.Random | None = None) -> float:
    """seconds spread by ± policy.jitter_fraction, so feeds do not all come due together."""
    if policy.jitter_fraction <= 0:
        return seconds
    spread = seconds * policy.jitter_fraction
    return max(0.0, seconds + (rng or random).uniform(-spread, spread))


def next_poll_after_success(
    *,
    now: datetime,
    interval_seconds: int,
    policy: SchedulePolicy,
    rng: random.Random | None = None,
) -> datetime:
    """When to poll a feed again after a successful (or unchanged) poll."""
    return now + timedelta(seconds=jittered(interval_seconds, policy=policy, rng=rng))


def backoff_after_error(
    error_count: int, *, policy: SchedulePolicy, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with jitter for the error_count-th consecutive error, up to the cap."""
    if error_count >= policy.failing_after_errors:
        # Failing feeds are probed at the cap interval, never abandoned.
        base = float(policy.max_backoff)
    else:
        exponent = max(0, error_count - 1)
        base = min(float(policy.max_backoff), policy.base_backoff * 2.0 ** min(exponent, 32))
    seconds = min(jittered(base, policy=policy, rng=rng), policy.max_backoff)
    return timedelta(seconds=max(1.0, seconds))


def status_after_error(error_count: int, policy: SchedulePolicy) -> str:
    """Feed.status after error_count consecutive errors: "active" or "failing"."""
    return "failing" if error_count >= policy.failing_after_errors else "active"


@dataclass(frozen=True, slots=True)
class ErrorPlan:
    """What to store on a feed after a failed poll."""

    error_count: int
    status: str
    next_poll_at: datetime
    counted: bool
    disabled_reason: str | None = None


def plan_after_error(
    error: IngestError,
    *,
    error_count: int,
    now: datetime,
    policy: SchedulePolicy,
    outage: bool = False,
    rng: random.Random | None = None,
) -> ErrorPlan:
    """Decide error count, status and next poll after error; error_count is the count before it.

    410 disables the feed; rate limits and failures during a probable outage are not counted.
    """
    if isinstance(error, FeedGone):
        return ErrorPlan(error_count + 1, "disabled", now, True, disabled_reason=str(error))
    if isinstance(error, RateLimited):
        wait = max(error.retry_after_seconds, 1.0)
        return ErrorPlan(
            error_count,
            status_after_error(error_count, policy),
            now + timedelta(seconds=min(wait, MAX_HINT_SECONDS)),
            False,
        )
    if outage or not error.counts_as_error:
        retry = timedelta(seconds=jittered(policy.outage_retry, policy=policy, rng=rng))
        return ErrorPlan(error_count, status_after_error(error_count, policy), now + retry, False)
    if not error.retryable:
        # Permanent errors (blocked URL, unparseable body) still get probed at the cap.
        count = max(error_count + 1, policy.failing_after_errors)
    else:
        count = error_count + 1
    delay = backoff_after_error(count, policy=policy, rng=rng)
    return ErrorPlan(count, status_after_error(count, policy), now + delay, True)


def next_redirect_state(
    current_url: str,
    candidate_url: str | None,
    candidate_count: int,
    observed_permanent_url: str | None,
    confirmations: int,
) -> tuple[str | None, str | None, int]:
    """Track a 301/308 target across polls: (new_url or None, candidate_url, candidate_count).

    new_url is set once the same target was seen on `confirmations` consecutive polls; the
    caller then stores it as Feed.url and keeps current_url in Feed.url_history.
    """
    if observed_permanent_url is None or observed_permanent_url == current_url:
        return None, None, 0
    count = candidate_count + 1 if observed_permanent_url == candidate_url else 1
    if count >= confirmations:
        return observed_permanent_url, None, 0
    return None, observed_permanent_url, count


def is_probable_outage(
    recent_results: Sequence[bool], *, min_polls: int = 20, failure_ratio: float = 0.9
) -> bool:
    """True when enough polls happened recently and nearly all of them failed (True = ok)."""
    if len(recent_results) < max(1, min_polls):
        return False
    failures = sum(1 for ok in recent_results if not ok)
    return failures / len(recent_results) >= failure_ratio
