"""Coordinator: per-feed locks and per-host budgets on real Redis and in-process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from newsworker.stages.errors import BlockedURL
from newsworker.storage.coordination import (
    CoordinationKeys,
    CoordinationPolicy,
    Coordinator,
    LocalCoordinationState,
)


@pytest.fixture(params=["redis", "process"])
def coordinators(request: pytest.FixtureRequest) -> Iterator[tuple[Coordinator, Coordinator]]:
    """Two coordinators sharing state: two workers on one Redis, or two in one process."""
    policy = CoordinationPolicy(
        host_requests_per_second=2.0, host_overrides={"fast.example": 1000.0}, outage_min_polls=4
    )
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        pair = (Coordinator(url, policy), Coordinator(url, policy))
    else:
        state = LocalCoordinationState()
        pair = (
            Coordinator(None, policy, local_state=state),
            Coordinator(None, policy, local_state=state),
        )
    yield pair
    for c in pair:
        c.close()


def test_only_one_concurrent_lock_per_feed(coordinators: tuple[Coordinator, Coordinator]) -> None:
    barrier = threading.Barrier(8)
    tokens: list[str | None] = []

    def attempt(c: Coordinator) -> None:
        barrier.wait()
        tokens.append(c.acquire_feed_lock(42, ttl_seconds=30))

    threads = [threading.Thread(target=attempt, args=(coordinators[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [t for t in tokens if t is not None]
    assert len(held) == 1
    first, second = coordinators
    assert second.acquire_feed_lock(43, ttl_seconds=30) is not None  # other feeds unaffected
    assert not first.release_feed_lock(42, "not-the-token")
    assert second.acquire_feed_lock(42, ttl_seconds=30) is None
    assert first.release_feed_lock(42, held[0])
    assert second.acquire_feed_lock(42, ttl_seconds=30) is not None


def test_lock_expires_and_is_not_released_by_old_owner(
    coordinators: tuple[Coordinator, Coordinator],
) -> None:
    first, second = coordinators
    old = first.acquire_feed_lock(7, ttl_seconds=0.05)
    assert old is not None
    time.sleep(0.1)
    new = second.acquire_feed_lock(7, ttl_seconds=30)
    assert new is not None
    assert not first.release_feed_lock(7, old)  # a late worker cannot free the new holder's lock
    assert first.acquire_feed_lock(7, ttl_seconds=30) is None


def test_begin_poll_takes_lock_then_host_slot(
    coordinators: tuple[Coordinator, Coordinator],
) -> None:
    first, second = coordinators
    slot = first.begin_poll(5, lock_seconds=30, host="Feeds.Example", max_wait_seconds=0)
    assert slot.token is not None and slot.wait_seconds == 0
    # The feed is locked: no slot is taken from the host's budget for a poll that cannot run.
    assert second.begin_poll(5, lock_seconds=30, host="feeds.example", max_wait_seconds=0) == (
        type(slot)(None, 0.0)
    )
    # Another feed on the same host waits for the next slot (2 req/s) and, above its max wait,
    # reserves nothing: the slot after it is still ~0.5 s away.
    later = second.begin_poll(6, lock_seconds=30, host="feeds.example", max_wait_seconds=0.1)
    assert later.token is not None and 0.3 < later.wait_seconds <= 0.5
    assert 0.3 < first.reserve_host_slot("feeds.example", max_wait_seconds=1.0) <= 0.5
    # A feed without a host takes the lock only.
    assert first.begin_poll(8, lock_seconds=30, host="", max_wait_seconds=0).wait_seconds == 0
    first.end_poll(5, "not-the-token", outcome=None)
    assert second.acquire_feed_lock(5, ttl_seconds=30) is None
    first.end_poll(5, slot.token, outcome=None)
    assert second.acquire_feed_lock(5, ttl_seconds=30) is not None


def test_end_poll_records_the_outcome(coordinators: tuple[Coordinator, Coordinator]) -> None:
    first, second = coordinators
    for feed_id in range(4):
        slot = first.begin_poll(feed_id, lock_seconds=30, host="", max_wait_seconds=0)
        assert slot.token is not None
        first.end_poll(feed_id, slot.token, outcome=False)
    assert second.recent_outcomes() == [False] * 4
    assert second.probable_outage()
    slot = first.begin_poll(9, lock_seconds=30, host="", max_wait_seconds=0)
    assert slot.token is not None
    first.end_poll(9, slot.token, outcome=None)  # a throttled poll says nothing of the network
    assert len(second.recent_outcomes()) == 4


def test_host_budget_is_shared(coordinators: tuple[Coordinator, Coordinator]) -> None:
    first, second = coordinators
    assert first.reserve_host_slot("feeds.example") == 0
    wait = second.reserve_host_slot("feeds.example")  # 2 req/s: the next slot is ~0.5 s away
    assert 0.3 < wait <= 0.5
    assert second.reserve_host_slot("other.example") == 0  # budgets are per host
    # Reserving with a wait: the caller sleeps that long; the next caller queues behind it.
    reserved = second.reserve_host_slot("feeds.example", max_wait_seconds=1.0)
    assert 0.3 < reserved <= 0.5
    assert 0.8 < first.reserve_host_slot("feeds.example") <= 1.0


def test_host_overrides_cover_subdomains(coordinators: tuple[Coordinator, Coordinator]) -> None:
    first, second = coordinators
    assert first.host_rate("a.fast.example") == 1000.0
    assert first.host_rate("slow.example") == 2.0
    assert first.reserve_host_slot("a.fast.example") == 0
    time.sleep(0.01)
    assert second.reserve_host_slot("a.fast.example") == 0


def test_outage_window(coordinators: tuple[Coordinator, Coordinator]) -> None:
    first, second = coordinators
    for _ in range(3):
        first.record_poll_outcome(False)
    assert not second.probable_outage()  # below min_polls
    second.record_poll_outcome(False)
    assert first.probable_outage()
    for _ in range(4):
        first.record_poll_outcome(True)
    assert not second.probable_outage()


def test_first_in_window_coalesces_triggers_in_process() -> None:
    coordinator = Coordinator(None, local_state=LocalCoordinationState())
    assert coordinator.first_in_window("publish", 0.2)
    assert not coordinator.first_in_window("publish", 0.2)
    assert coordinator.first_in_window("other", 0.2)
    time.sleep(0.25)
    assert coordinator.first_in_window("publish", 0.2)


def test_first_in_window_is_fleet_wide_on_redis(redis_url: str) -> None:
    first, second = Coordinator(redis_url), Coordinator(redis_url)
    try:
        assert first.first_in_window("publish", 5)
        assert not second.first_in_window("publish", 5)
    finally:
        first.close()
        second.close()


class CountingCanary:
    """A canary callable whose answer the test sets; counts its probes."""

    def __init__(self, up: bool) -> None:
        self.up = up
        self.probes = 0
        self.delay = 0.0

    def __call__(self) -> bool:
        self.probes += 1
        time.sleep(self.delay)
        return self.up


@pytest.fixture(params=["redis", "process"])
def canary_pair(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Coordinator, Coordinator, CountingCanary]]:
    """Two coordinators with one shared canary window of 0.3 s."""
    policy = CoordinationPolicy(canary_window_seconds=0.3, canary_timeout_seconds=0.5)
    canary = CountingCanary(up=False)
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    state = LocalCoordinationState()
    pair = (
        Coordinator(url, policy, local_state=state, canary=canary),
        Coordinator(url, policy, local_state=state, canary=canary),
    )
    yield pair[0], pair[1], canary
    for c in pair:
        c.close()


def test_canary_down_means_outage_with_one_probe_per_window(
    canary_pair: tuple[Coordinator, Coordinator, CountingCanary],
) -> None:
    first, second, canary = canary_pair
    results = [c.probable_outage() for _ in range(50) for c in (first, second)]
    assert all(results)
    assert canary.probes == 1
    canary.up = True
    assert first.probable_outage()  # the window's answer stands until the next probe
    time.sleep(0.35)
    assert not second.probable_outage()
    assert not first.probable_outage()
    assert canary.probes == 2


def test_concurrent_callers_wait_for_the_first_probe(
    canary_pair: tuple[Coordinator, Coordinator, CountingCanary],
) -> None:
    first, second, canary = canary_pair
    canary.delay = 0.2
    barrier = threading.Barrier(6)
    answers: list[bool] = []

    def ask(c: Coordinator) -> None:
        barrier.wait()
        answers.append(c.probable_outage())

    threads = [threading.Thread(target=ask, args=((first, second)[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [True] * 6
    assert canary.probes == 1


def test_no_canary_and_a_refused_canary_declare_nothing() -> None:
    def refused() -> bool:
        raise BlockedURL("host resolves to a non-public address")

    assert not Coordinator(None, local_state=LocalCoordinationState()).canary_down()
    coordinator = Coordinator(None, local_state=LocalCoordinationState(), canary=refused)
    started = time.monotonic()
    assert not any(coordinator.probable_outage() for _ in range(10))
    assert time.monotonic() - started < 0.5  # later callers do not wait for an answer


def test_redis_keys_come_from_coordination_keys(redis_url: str) -> None:
    keys = CoordinationKeys("newsworker-test-keys")
    coordinator = Coordinator(redis_url, key_prefix=keys.prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        slot = coordinator.begin_poll(3, lock_seconds=30, host="Keys.Example", max_wait_seconds=0)
        assert slot.token is not None
        assert client.get(keys.feed_lock(3)) == slot.token.encode()
        assert client.exists(keys.host_budget("keys.example"))
        coordinator.end_poll(3, slot.token, outcome=True)
        assert not client.exists(keys.feed_lock(3))
        assert client.llen(keys.poll_outcomes) == 1
        assert coordinator.first_in_window("keys", 5)
        assert client.exists(keys.once("keys"))
    finally:
        client.close()
        coordinator.close()
