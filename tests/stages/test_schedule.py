"""Pure scheduling policy: adaptive interval, backoff, failing status, redirects, outages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from newsworker.stages.errors import BlockedURL, FeedGone, FetchError, HTTPStatusError, RateLimited
from newsworker.stages.schedule import (
    MAX_HINT_SECONDS,
    SchedulePolicy,
    backoff_after_error,
    interval_from_history,
    is_probable_outage,
    next_poll_after_success,
    next_redirect_state,
    plan_after_error,
    status_after_error,
)

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
POLICY = SchedulePolicy()


def every(seconds: float, count: int, *, ending: datetime = NOW) -> list[datetime]:
    return [ending - timedelta(seconds=seconds * i) for i in range(count)]


def test_no_history_uses_default() -> None:
    assert interval_from_history([], now=NOW, policy=POLICY) == POLICY.default_interval
    assert interval_from_history([NOW], now=NOW, policy=POLICY) == POLICY.default_interval


def test_interval_follows_publishing_rate() -> None:
    hourly = interval_from_history(every(3600, 10), now=NOW, policy=POLICY)
    assert hourly == 1800
    assert interval_from_history(every(60, 10), now=NOW, policy=POLICY) == POLICY.min_interval
    weekly = every(7 * 86400, 5)
    assert interval_from_history(weekly, now=NOW, policy=POLICY) == POLICY.max_interval


def test_quiet_feed_slows_down() -> None:
    quiet = every(3600, 10, ending=NOW - timedelta(days=2))
    assert interval_from_history(quiet, now=NOW, policy=POLICY) == 2 * 86400 // 4


def test_future_and_duplicate_dates_are_ignored() -> None:
    times = [*every(3600, 10), NOW + timedelta(days=3), NOW, NOW]
    assert interval_from_history(times, now=NOW, policy=POLICY) == 1800


def test_feed_hints_are_a_floor_and_override_wins() -> None:
    hourly = every(3600, 10)
    assert interval_from_history(hourly, now=NOW, policy=POLICY, feed_ttl_seconds=7200) == 7200
    assert interval_from_history(hourly, now=NOW, policy=POLICY, min_refresh_seconds=5000) == 5000
    huge = interval_from_history(hourly, now=NOW, policy=POLICY, min_refresh_seconds=1e9)
    assert huge == MAX_HINT_SECONDS
    assert (
        interval_from_history(
            hourly, now=NOW, policy=POLICY, feed_ttl_seconds=7200, override_seconds=60
        )
        == 60
    )


def test_next_poll_after_success_is_jittered_within_bounds() -> None:
    rng = random.Random(1)
    times = {
        next_poll_after_success(now=NOW, interval_seconds=1000, policy=POLICY, rng=rng)
        for _ in range(20)
    }
    assert len(times) > 1
    assert all(NOW + timedelta(seconds=900) <= t <= NOW + timedelta(seconds=1100) for t in times)


def test_backoff_grows_exponentially_up_to_cap() -> None:
    policy = SchedulePolicy(jitter_fraction=0)
    delays = [backoff_after_error(n, policy=policy).total_seconds() for n in range(1, 8)]
    assert delays[:4] == [60, 120, 240, 480]
    assert delays[4:] == [policy.max_backoff] * 3  # failing: probed at the cap, never dropped
    rng = random.Random(3)
    jittered = {backoff_after_error(2, policy=POLICY, rng=rng).total_seconds() for _ in range(10)}
    assert len(jittered) > 1 and all(108 <= d <= 132 for d in jittered)
    assert backoff_after_error(60, policy=POLICY).total_seconds() <= POLICY.max_backoff


def test_status_after_error() -> None:
    assert status_after_error(4, POLICY) == "active"
    assert status_after_error(5, POLICY) == "failing"


def test_plan_after_error() -> None:
    url = "http://feeds.example/rss"
    gone = plan_after_error(FeedGone("410", url=url), error_count=0, now=NOW, policy=POLICY)
    assert gone.status == "disabled" and gone.disabled_reason
    limited = plan_after_error(
        RateLimited("429", url=url, retry_after_seconds=600), error_count=2, now=NOW, policy=POLICY
    )
    assert (limited.error_count, limited.counted) == (2, False)
    assert limited.next_poll_at == NOW + timedelta(seconds=600)
    failing = plan_after_error(
        HTTPStatusError("500", url=url, status=500), error_count=4, now=NOW, policy=POLICY
    )
    assert (failing.error_count, failing.status, failing.counted) == (5, "failing", True)
    outage = plan_after_error(
        FetchError("down", url=url), error_count=1, now=NOW, policy=POLICY, outage=True
    )
    assert (outage.error_count, outage.status, outage.counted) == (1, "active", False)
    assert outage.next_poll_at <= NOW + timedelta(seconds=POLICY.outage_retry * 1.1)
    blocked = plan_after_error(BlockedURL("no", url=url), error_count=0, now=NOW, policy=POLICY)
    assert blocked.status == "failing"


def test_redirect_state_persists_after_confirmations() -> None:
    old, new, other = "http://a/feed", "http://b/feed", "http://c/feed"
    assert next_redirect_state(old, None, 0, new, 3) == (None, new, 1)
    assert next_redirect_state(old, new, 1, new, 3) == (None, new, 2)
    assert next_redirect_state(old, new, 2, new, 3) == (new, None, 0)
    assert next_redirect_state(old, new, 2, other, 3) == (None, other, 1)  # target changed
    assert next_redirect_state(old, new, 2, None, 3) == (None, None, 0)  # chain broken
    assert next_redirect_state(old, None, 0, new, 1) == (new, None, 0)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([False] * 19, False),
        ([False] * 20, True),
        ([False] * 18 + [True] * 2, True),
        ([False] * 17 + [True] * 3, False),
        ([True] * 50, False),
    ],
)
def test_is_probable_outage(results: list[bool], expected: bool) -> None:
    assert is_probable_outage(results, min_polls=20, failure_ratio=0.9) is expected
