"""Feed locks tied to the holder's liveness: renewed while its process lives, free soon after."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import signal
import time
from collections.abc import Iterator

import pytest

from newsworker.storage.coordination import (
    CoordinationPolicy,
    Coordinator,
    LocalCoordinationState,
    lock_lease_within,
)
from tests.support.fleet import wait_for

LEASE = 0.6


@pytest.fixture(params=["redis", "process"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Coordinator, Coordinator]]:
    """Two coordinators sharing state (two workers), with a short lock lease."""
    policy = CoordinationPolicy(lock_lease_seconds=LEASE)
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        both = (Coordinator(url, policy), Coordinator(url, policy))
    else:
        state = LocalCoordinationState()
        both = (
            Coordinator(None, policy, local_state=state),
            Coordinator(None, policy, local_state=state),
        )
    yield both
    for c in both:
        c.close()


def _poll(c: Coordinator, feed_id: int, lock_seconds: float = 300) -> str | None:
    return c.begin_poll(feed_id, lock_seconds=lock_seconds, host="", max_wait_seconds=0).token


def test_a_running_poll_keeps_its_lock_past_the_lease(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    holder, other = pair
    token = _poll(holder, 1)
    assert token is not None
    time.sleep(4 * LEASE)
    assert _poll(other, 1) is None, "a second copy of a running poll took its feed"
    holder.end_poll(1, token, outcome=None)
    assert _poll(other, 1) is not None


def test_a_dead_polls_lock_lapses_one_lease_after_it_stopped_renewing(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    holder, other = pair
    assert _poll(holder, 2) is not None
    holder.keeper.stop()  # what a SIGKILL does to the renewing thread
    started = time.monotonic()
    assert wait_for(lambda: _poll(other, 2) is not None, timeout=10, interval=0.05)
    assert time.monotonic() - started < 2 * LEASE


def test_renewal_stops_at_the_polls_own_cap(pair: tuple[Coordinator, Coordinator]) -> None:
    holder, other = pair
    assert _poll(holder, 3, lock_seconds=2 * LEASE) is not None
    assert wait_for(lambda: _poll(other, 3) is not None, timeout=10, interval=0.05)


def _hold_then_hang(coordinator: Coordinator, ready: multiprocessing.synchronize.Event) -> None:
    assert _poll(coordinator, 4) is not None
    ready.set()
    time.sleep(600)


@pytest.mark.redis
def test_a_sigkilled_worker_process_frees_its_feed_within_a_lease(redis_url: str) -> None:
    # Built before the fork and used in the child, like the runtime of a prefork pool child:
    # the renewing thread must start in the child itself.
    inherited = Coordinator(redis_url, CoordinationPolicy(lock_lease_seconds=LEASE))
    assert _poll(inherited, 5) is not None  # the parent's own thread does not cross the fork
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=_hold_then_hang, args=(inherited, ready), daemon=True)
    child.start()
    other = Coordinator(redis_url, CoordinationPolicy(lock_lease_seconds=LEASE))
    try:
        assert ready.wait(10)
        time.sleep(4 * LEASE)
        assert _poll(other, 4) is None, "the live child's lock lapsed"
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_for(lambda: _poll(other, 4) is not None, timeout=10, interval=0.05)
        assert time.monotonic() - killed < 2 * LEASE
    finally:
        child.kill()
        child.join(5)
        other.close()
        inherited.close()


def test_the_lock_lease_lapses_well_before_the_broker_redelivers() -> None:
    assert lock_lease_within(90) == 30
    assert lock_lease_within(12) == 4
