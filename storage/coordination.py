"""Fleet-wide coordination: per-feed locks, per-host request budgets, outage window and canary.

With a Redis URL every worker shares the same state; without one (embedded/eager mode) the
same API works on in-process state shared by every Coordinator of the process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from newsworker.stages.errors import BlockedURL
from newsworker.stages.schedule import is_probable_outage

KEY_PREFIX = "newsworker"
_CANARY_PROBE = "canary-probe"
_CANARY_UP, _CANARY_DOWN, _CANARY_UNKNOWN = b"up", b"down", b"unknown"

log = logging.getLogger("newsworker.coordination")

# GCRA: one request per `interval` ms per host. Redis TIME is the clock, so worker clocks
# need not agree. Reserves the slot only when the wait is within max_wait; returns
# {reserved, wait_ms}. A local function, shared by the scripts that take a host slot.
_TAKE_HOST_SLOT_LUA = """
local function take_host_slot(key, interval, max_wait)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local wait = tat - now
  if wait > max_wait then return {0, wait} end
  local new_tat = tat + interval
  redis.call('SET', key, new_tat, 'PX', new_tat - now + 1000)
  return {1, wait}
end
"""

# KEYS: host budget. ARGV: interval ms, max wait ms.
_HOST_SLOT_LUA = (
    _TAKE_HOST_SLOT_LUA + "return take_host_slot(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"
)

# begin_poll: the feed lock and, once it is held, the host slot, in one round trip.
# KEYS: lock, host budget (absent for a feed without a host). ARGV: token, lock ms, interval ms,
# max wait ms. Returns {acquired, wait_ms}; the slot is reserved only when wait_ms <= max wait.
_BEGIN_POLL_LUA = (
    _TAKE_HOST_SLOT_LUA
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, 0} end
if #KEYS < 2 then return {1, 0} end
local slot = take_host_slot(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return {1, slot[2]}
"""
)

# end_poll: release the lock if the token still holds it and, when ARGV[2] is given, add a poll
# outcome to the window (KEYS[2], trimmed to ARGV[3] items), in one round trip.
_END_POLL_LUA = """
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then released = redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
end
return released
"""

_RELEASE_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass
class LocalCoordinationState:
    """In-process stand-in for the Redis keys, shared by Coordinators without Redis."""

    mutex: threading.Lock = field(default_factory=threading.Lock)
    locks: dict[int, tuple[str, float]] = field(default_factory=dict)
    host_tat: dict[str, float] = field(default_factory=dict)
    outcomes: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=1000))
    windows: dict[str, float] = field(default_factory=dict)
    # Last canary answer and when it expires (monotonic).
    canary: tuple[bytes, float] | None = None


_PROCESS_STATE = LocalCoordinationState()


@dataclass(frozen=True, slots=True)
class PollSlot:
    """What begin_poll got: the feed lock's token (None: another poll holds it) and the host wait.

    A wait <= the max_wait asked for is reserved: sleep it, then fetch. A longer one reserved
    nothing: defer the feed by that many seconds (the caller still holds, and must release, the
    lock).
    """

    token: str | None
    wait_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class CoordinationPolicy:
    """Host budget and outage window settings (the lead maps settings onto it)."""

    host_requests_per_second: float = 1.0
    # Per-host overrides; a key also covers its subdomains ("example.com" covers "a.example.com").
    host_overrides: Mapping[str, float] = field(default_factory=dict)
    outage_window_seconds: float = 300.0
    outage_window_size: int = 500
    outage_min_polls: int = 20
    outage_failure_ratio: float = 0.9
    # One canary probe per window fleet-wide; its answer is reused until the next probe.
    canary_window_seconds: float = 30.0
    canary_timeout_seconds: float = 5.0


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
        self._prefix = key_prefix
        self._local = local_state or _PROCESS_STATE
        self._redis: redis.Redis[bytes] | None = None
        if redis_url:
            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=5, socket_connect_timeout=5
            )
            self._host_slot = self._redis.register_script(_HOST_SLOT_LUA)
            self._release = self._redis.register_script(_RELEASE_LOCK_LUA)
            self._begin_poll = self._redis.register_script(_BEGIN_POLL_LUA)
            self._end_poll = self._redis.register_script(_END_POLL_LUA)

    def close(self) -> None:
        """Close the Redis connection pool, if any."""
        if self._redis is not None:
            self._redis.close()

    # --- one poll: lock and host slot, then release and outcome ---

    def begin_poll(
        self, feed_id: int, *, lock_seconds: float, host: str, max_wait_seconds: float
    ) -> PollSlot:
        """Take the feed's lock and, if that worked, a slot of host's budget (one round trip)."""
        if self._redis is None:
            token = self.acquire_feed_lock(feed_id, lock_seconds)
            if token is None or not host:
                return PollSlot(token)
            return PollSlot(token, self.reserve_host_slot(host, max_wait_seconds=max_wait_seconds))
        token = uuid.uuid4().hex
        keys = [f"{self._prefix}:feed-lock:{feed_id}"]
        args: list[int | str] = [token, max(1, int(lock_seconds * 1000))]
        if host:
            host, interval_ms, max_wait_ms = self._host_budget(host, max_wait_seconds)
            keys.append(f"{self._prefix}:host-budget:{host}")
            args += [int(interval_ms), int(max_wait_ms)]
        acquired, wait_ms = cast("list[int]", self._begin_poll(keys=keys, args=args))
        return PollSlot(token if acquired else None, int(wait_ms) / 1000)

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None) -> None:
        """Release the feed's lock and record the poll outcome, if any (one round trip)."""
        if self._redis is None:
            self.release_feed_lock(feed_id, token)
            if outcome is not None:
                self.record_poll_outcome(outcome)
            return
        entry = "" if outcome is None else f"{time.time():.3f}:{int(outcome)}"
        self._end_poll(
            keys=[f"{self._prefix}:feed-lock:{feed_id}", f"{self._prefix}:poll-outcomes"],
            args=[token, entry, self.policy.outage_window_size],
        )

    # --- per-feed lock ---

    def acquire_feed_lock(self, feed_id: int, ttl_seconds: float) -> str | None:
        """A token when this caller now holds the feed's lock, None when someone else does."""
        token = uuid.uuid4().hex
        if self._redis is not None:
            key = f"{self._prefix}:feed-lock:{feed_id}"
            acquired = self._redis.set(key, token, nx=True, px=max(1, int(ttl_seconds * 1000)))
            return token if acquired else None
        now = time.monotonic()
        with self._local.mutex:
            held = self._local.locks.get(feed_id)
            if held is not None and held[1] > now:
                return None
            self._local.locks[feed_id] = (token, now + ttl_seconds)
        return token

    def first_in_window(self, name: str, window_seconds: float) -> bool:
        """True for the first caller fleet-wide in each window (coalesces repeated triggers)."""
        if self._redis is not None:
            key = f"{self._prefix}:once:{name}"
            return bool(self._redis.set(key, b"1", nx=True, px=max(1, int(window_seconds * 1000))))
        now = time.monotonic()
        with self._local.mutex:
            if self._local.windows.get(name, 0.0) > now:
                return False
            self._local.windows[name] = now + window_seconds
        return True

    def release_feed_lock(self, feed_id: int, token: str) -> bool:
        """Release the lock if token still holds it (an expired lock is never stolen back)."""
        if self._redis is not None:
            key = f"{self._prefix}:feed-lock:{feed_id}"
            return bool(self._release(keys=[key], args=[token]))
        with self._local.mutex:
            held = self._local.locks.get(feed_id)
            if held is None or held[0] != token:
                return False
            del self._local.locks[feed_id]
            return True

    # --- per-host budget ---

    def host_rate(self, host: str) -> float:
        """Requests per second allowed for host (the most specific override, else the default)."""
        host = host.lower().rstrip(".")
        overrides = self.policy.host_overrides
        labels = host.split(".")
        for i in range(len(labels)):
            rate = overrides.get(".".join(labels[i:]))
            if rate is not None:
                return rate
        return self.policy.host_requests_per_second

    def reserve_host_slot(self, host: str, *, max_wait_seconds: float = 0.0) -> float:
        """Seconds to wait before requesting host; 0 means go now.

        A result <= max_wait_seconds means the slot is reserved: sleep that long, then fetch.
        A larger result reserves nothing: try again (or reschedule) after that many seconds.
        """
        host, interval_ms, max_wait_ms = self._host_budget(host, max_wait_seconds)
        if self._redis is not None:
            key = f"{self._prefix}:host-budget:{host}"
            reply = cast(
                "list[int]",
                self._host_slot(keys=[key], args=[int(interval_ms), int(max_wait_ms)]),
            )
            return int(reply[1]) / 1000
        now = time.monotonic() * 1000
        with self._local.mutex:
            tat = max(self._local.host_tat.get(host, 0.0), now)
            wait = tat - now
            if wait <= max_wait_ms:
                self._local.host_tat[host] = tat + interval_ms
        return wait / 1000

    def _host_budget(self, host: str, max_wait_seconds: float) -> tuple[str, float, float]:
        """The host as budgets key it, its interval between requests and the max wait, in ms."""
        host = host.lower().rstrip(".")
        interval_ms = 1000.0 / max(self.host_rate(host), 1e-6)
        return host, interval_ms, max(0.0, max_wait_seconds * 1000)

    # --- outage window ---

    def record_poll_outcome(self, ok: bool) -> None:
        """Add one poll outcome (True = fetched or unchanged) to the fleet-wide window."""
        now = time.time()
        if self._redis is not None:
            key = f"{self._prefix}:poll-outcomes"
            pipe = self._redis.pipeline(transaction=False)
            pipe.lpush(key, f"{now:.3f}:{int(ok)}")
            pipe.ltrim(key, 0, self.policy.outage_window_size - 1)
            pipe.execute()
            return
        with self._local.mutex:
            self._local.outcomes.append((now, ok))

    def recent_outcomes(self) -> list[bool]:
        """Poll outcomes recorded within the outage window, newest first."""
        since = time.time() - self.policy.outage_window_seconds
        if self._redis is not None:
            key = f"{self._prefix}:poll-outcomes"
            raw = self._redis.lrange(key, 0, self.policy.outage_window_size - 1)
            results: list[bool] = []
            for item in raw:
                stamp, _, flag = item.decode().partition(":")
                if float(stamp) >= since:
                    results.append(flag == "1")
            return results
        with self._local.mutex:
            items = list(self._local.outcomes)[-self.policy.outage_window_size :]
        return [ok for stamp, ok in reversed(items) if stamp >= since]

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
        if self.first_in_window(_CANARY_PROBE, window):
            probed = self._probe_canary()
            self._store_canary(probed)
            return probed == _CANARY_DOWN
        # Another worker probes this window: use the last answer, or wait for its first one.
        deadline = time.monotonic() + self.policy.canary_timeout_seconds + 1.0
        while True:
            stored = self._stored_canary()
            if stored is not None or time.monotonic() >= deadline:
                return stored == _CANARY_DOWN
            time.sleep(0.05)

    def _probe_canary(self) -> bytes:
        assert self._canary is not None
        try:
            up = self._canary()
        except BlockedURL as e:
            # A canary the address guard refuses says nothing about the network: ignore it.
            log.warning("outage canary refused", extra={"error": str(e)})
            return _CANARY_UNKNOWN
        log.info("outage canary probed", extra={"up": up})
        return _CANARY_UP if up else _CANARY_DOWN

    def _store_canary(self, answer: bytes) -> None:
        # Kept for two windows, so callers never wait while the next probe is in flight.
        keep = 2 * self.policy.canary_window_seconds + self.policy.canary_timeout_seconds
        if self._redis is not None:
            self._redis.set(f"{self._prefix}:canary", answer, px=max(1, int(keep * 1000)))
            return
        with self._local.mutex:
            self._local.canary = (answer, time.monotonic() + keep)

    def _stored_canary(self) -> bytes | None:
        if self._redis is not None:
            return self._redis.get(f"{self._prefix}:canary")
        with self._local.mutex:
            stored = self._local.canary
        if stored is None or stored[1] <= time.monotonic():
            return None
        return stored[0]

    def ping(self) -> dict[str, Any]:
        """Where coordination state lives, for health output."""
        return {"backend": "redis" if self._redis is not None else "process"}
