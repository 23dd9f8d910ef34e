"""The in-process coordination store, for eager mode and tests: state shared within one process."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from newsworker.storage.coordination.protocol import PollSlot


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


PROCESS_STATE = LocalCoordinationState()


class MemoryStore:
    """Coordination state in a LocalCoordinationState, guarded by its mutex."""

    name = "process"

    def __init__(self, state: LocalCoordinationState) -> None:
        self._local = state

    def close(self) -> None:
        """Nothing to release."""

    def begin_poll(
        self,
        feed_id: int,
        token: str,
        *,
        lock_seconds: float,
        host: str,
        interval_ms: float,
        max_wait_ms: float,
    ) -> PollSlot:
        """Take the feed lock and, if that worked and host is set, a slot of its budget."""
        if not self.acquire_lock(feed_id, token, lock_seconds):
            return PollSlot(None)
        if not host:
            return PollSlot(token)
        return PollSlot(token, self.take_host_slot(host, interval_ms, max_wait_ms))

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None, window_size: int) -> None:
        """Release the lock and record the outcome, if any."""
        self.release_lock(feed_id, token)
        if outcome is not None:
            self.record_outcome(outcome, window_size)

    def acquire_lock(self, feed_id: int, token: str, ttl_seconds: float) -> bool:
        """Hold the feed's lock unless an unexpired holder has it."""
        now = time.monotonic()
        with self._local.mutex:
            held = self._local.locks.get(feed_id)
            if held is not None and held[1] > now:
                return False
            self._local.locks[feed_id] = (token, now + ttl_seconds)
        return True

    def release_lock(self, feed_id: int, token: str) -> bool:
        """Release the feed's lock if token still holds it."""
        with self._local.mutex:
            held = self._local.locks.get(feed_id)
            if held is None or held[0] != token:
                return False
            del self._local.locks[feed_id]
            return True

    def renew_lock(self, feed_id: int, token: str, ttl_seconds: float) -> bool:
        """Push the lock's expiry to ttl_seconds from now if token still holds it."""
        now = time.monotonic()
        with self._local.mutex:
            held = self._local.locks.get(feed_id)
            if held is None or held[0] != token or held[1] <= now:
                return False
            self._local.locks[feed_id] = (token, now + ttl_seconds)
        return True

    def take_host_slot(self, host: str, interval_ms: float, max_wait_ms: float) -> float:
        """GCRA on the process's monotonic clock."""
        now = time.monotonic() * 1000
        with self._local.mutex:
            tat = max(self._local.host_tat.get(host, 0.0), now)
            wait = tat - now
            if wait <= max_wait_ms:
                self._local.host_tat[host] = tat + interval_ms
        return wait / 1000

    def first_in_window(self, name: str, window_seconds: float) -> bool:
        """True when no window of name is open; opens one."""
        now = time.monotonic()
        with self._local.mutex:
            if self._local.windows.get(name, 0.0) > now:
                return False
            self._local.windows[name] = now + window_seconds
        return True

    def record_outcome(self, ok: bool, window_size: int) -> None:
        """Append to the bounded outcome deque (window_size applies when reading)."""
        now = time.time()
        with self._local.mutex:
            self._local.outcomes.append((now, ok))

    def outcomes_since(self, since: float, window_size: int) -> list[bool]:
        """The last window_size outcomes stamped at or after since, newest first."""
        with self._local.mutex:
            items = list(self._local.outcomes)[-window_size:]
        return [ok for stamp, ok in reversed(items) if stamp >= since]

    def store_canary(self, answer: bytes, keep_seconds: float) -> None:
        """Keep answer until keep_seconds from now."""
        with self._local.mutex:
            self._local.canary = (answer, time.monotonic() + keep_seconds)

    def stored_canary(self) -> bytes | None:
        """The kept answer, unless it expired."""
        with self._local.mutex:
            stored = self._local.canary
        if stored is None or stored[1] <= time.monotonic():
            return None
        return stored[0]
