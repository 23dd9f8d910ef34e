"""The Coordinator: per-feed locks, per-host budgets and outage detection over a store.

With a Redis URL every worker shares the same state (`RedisStore`); without one (embedded/eager
mode) the same API works on in-process state shared by every Coordinator of the process
(`MemoryStore`). Policy lives here: host rates, the outage ratio and the canary.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from newsworker.stages.errors import BlockedURL
from newsworker.stages.schedule import is_probable_outage
from newsworker.storage.coordination.keeper import LockKeeper
from newsworker.storage.coordination.keys import KEY_PREFIX, CoordinationKeys
from newsworker.storage.coordination.memory import (
    PROCESS_STATE,
    LocalCoordinationState,
    MemoryStore,
)
from newsworker.storage.coordination.policy import CoordinationPolicy
from newsworker.storage.coordination.protocol import (
    CANARY_DOWN,
    CANARY_UNKNOWN,
    CANARY_UP,
    CoordinationStore,
    PollSlot,
)
from newsworker.storage.coordination.redis import RedisStore

_CANARY_PROBE = "canary-probe"

log = logging.getLogger("newsworker.coordination")


class Coordinator:
    """Per-feed locks, per-host budgets and the outage window, in Redis or in this process."""

    def __init__(
        self,
        redis_url: str | None = None,
        policy: CoordinationPolicy | None = None,
        *,
        local_state: LocalCoordinationState | None = None,
        key_prefix: str = KEY_PREFIX,
        canary: Callable[[], bool] | None = None,
    ) -> None:
        """canary() is True when the canary URL answers; None turns the canary check off."""
        self.policy = policy or CoordinationPolicy()
        self._canary = canary
        # The client is an attribute of the Coordinator itself because the worker resets the
        # pools of the Redis clients it finds on the runtime's coordinator after a fork.
        self._redis: redis.Redis[bytes] | None = None
        self._store: CoordinationStore
        if redis_url:
            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=5, socket_connect_timeout=5
            )
            self._store = RedisStore(self._redis, CoordinationKeys(key_prefix))
        else:
            self._store = MemoryStore(local_state or PROCESS_STATE)
        self.keeper = LockKeeper(self._store.renew_lock, self.policy.lock_lease_seconds)

    def close(self) -> None:
        """Stop renewing locks and close the Redis connection pool, if any."""
        self.keeper.stop()
        self._store.close()

    # --- one poll: lock and host slot, then release and outcome ---

    def begin_poll(
        self, feed_id: int, *, lock_seconds: float, host: str, max_wait_seconds: float
    ) -> PollSlot:
        """Take the feed's lock and, if that worked, a slot of host's budget (one round trip).

        The lock lasts one lease and is renewed while this process lives, for at most
        lock_seconds: a second copy of a running poll finds it taken (a cheap no-op), and a
        crashed poll's feed is free again one lease after the crash.
        """
        interval_ms = max_wait_ms = 0.0
        if host:
            host, interval_ms, max_wait_ms = self._host_budget(host, max_wait_seconds)
        slot = self._store.begin_poll(
            feed_id,
            uuid.uuid4().hex,
            lock_seconds=min(lock_seconds, self.policy.lock_lease_seconds),
            host=host,
            interval_ms=interval_ms,
            max_wait_ms=max_wait_ms,
        )
        if slot.token is not None and lock_seconds > self.policy.lock_lease_seconds:
            self.keeper.hold(feed_id, slot.token, cap_seconds=lock_seconds)
        return slot

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None) -> None:
        """Release the feed's lock and record the poll outcome, if any (one round trip)."""
        self.keeper.drop(feed_id, token)
        self._store.end_poll(
            feed_id, token, outcome=outcome, window_size=self.policy.outage_window_size
        )

    # --- per-feed lock and once-per-window markers ---

    def acquire_feed_lock(self, feed_id: int, ttl_seconds: float) -> str | None:
        """A token when this caller now holds the feed's lock, None when someone else does."""
        token = uuid.uuid4().hex
        return token if self._store.acquire_lock(feed_id, token, ttl_seconds) else None

    def release_feed_lock(self, feed_id: int, token: str) -> bool:
        """Release the lock if token still holds it (an expired lock is never stolen back)."""
        return self._store.release_lock(feed_id, token)

    def first_in_window(self, name: str, window_seconds: float) -> bool:
        """True for the first caller fleet-wide in each window (coalesces repeated triggers)."""
        return self._store.first_in_window(name, window_seconds)

    # --- per-host budget ---

    def host_rate(self, host: str) -> float:
        """Requests per second allowed for host (the most specific override, else the default)."""
        return self.policy.host_rate(host)

    def reserve_host_slot(self, host: str, *, max_wait_seconds: float = 0.0) -> float:
        """Seconds to wait before requesting host; 0 means go now.

        A result <= max_wait_seconds means the slot is reserved: sleep that long, then fetch.
        A larger result reserves nothing: try again (or reschedule) after that many seconds.
        """
        host, interval_ms, max_wait_ms = self._host_budget(host, max_wait_seconds)
        return self._store.take_host_slot(host, interval_ms, max_wait_ms)

    def _host_budget(self, host: str, max_wait_seconds: float) -> tuple[str, float, float]:
        """The host as budgets key it, its interval between requests and the max wait, in ms."""
        host = host.lower().rstrip(".")
        interval_ms = 1000.0 / max(self.policy.host_rate(host), 1e-6)
        return host, interval_ms, max(0.0, max_wait_seconds * 1000)

    # --- outage window and canary ---

    def record_poll_outcome(self, ok: bool) -> None:
        """Add one poll outcome (True = fetched or unchanged) to the fleet-wide window."""
        self._store.record_outcome(ok, self.policy.outage_window_size)

    def recent_outcomes(self) -> list[bool]:
        """Poll outcomes recorded within the outage window, newest first."""
        since = time.time() - self.policy.outage_window_seconds
        return self._store.outcomes_since(since, self.policy.outage_window_size)

    def probable_outage(self) -> bool:
        """True when most polls of the window failed, or the canary is unreachable."""
        by_ratio = is_probable_outage(
            self.recent_outcomes(),
            min_polls=self.policy.outage_min_polls,
            failure_ratio=self.policy.outage_failure_ratio,
        )
        return by_ratio or self.canary_down()

    def canary_down(self) -> bool:
        """True when a canary is set and did not answer; one probe per window fleet-wide."""
        if self._canary is None:
            return False
        window = self.policy.canary_window_seconds
        if self._store.first_in_window(_CANARY_PROBE, window):
            probed = self._probe_canary()
            # Kept for two windows, so callers never wait while the next probe is in flight.
            keep = 2 * window + self.policy.canary_timeout_seconds
            self._store.store_canary(probed, keep)
            return probed == CANARY_DOWN
        # Another worker probes this window: use the last answer, or wait for its first one.
        deadline = time.monotonic() + self.policy.canary_timeout_seconds + 1.0
        while True:
            stored = self._store.stored_canary()
            if stored is not None or time.monotonic() >= deadline:
                return stored == CANARY_DOWN
            time.sleep(0.05)

    def _probe_canary(self) -> bytes:
        assert self._canary is not None
        try:
            up = self._canary()
        except BlockedURL as e:
            # A canary the address guard refuses says nothing about the network: ignore it.
            log.warning("outage canary refused", extra={"error": str(e)})
            return CANARY_UNKNOWN
        log.info("outage canary probed", extra={"up": up})
        return CANARY_UP if up else CANARY_DOWN

    def ping(self) -> dict[str, Any]:
        """Where coordination state lives, for health output."""
        return {"backend": self._store.name}
