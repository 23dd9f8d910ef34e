"""The coordination store protocol: the shared-state primitives a Coordinator is built on.

Two implementations: `RedisStore` (fleet-wide) and `MemoryStore` (one process: eager mode and
tests). Policy (host rates, outage ratio, the canary) stays in the Coordinator above them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CANARY_UP, CANARY_DOWN, CANARY_UNKNOWN = b"up", b"down", b"unknown"


@dataclass(frozen=True, slots=True)
class PollSlot:
    """What begin_poll got: the feed lock's token (None: another poll holds it) and the host wait.

    A wait <= the max_wait asked for is reserved: sleep it, then fetch. A longer one reserved
    nothing: defer the feed by that many seconds (the caller still holds, and must release, the
    lock).
    """

    token: str | None
    wait_seconds: float = 0.0


class CoordinationStore(Protocol):
    """Locks, host budgets (GCRA), once-per-window markers, the outcome window and the canary."""

    name: str

    def close(self) -> None:
        """Release the store's connections, if any."""

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
        """Take the feed lock with token and, if held and host is set, a slot of its budget."""
        ...

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None, window_size: int) -> None:
        """Release the lock if token holds it and record outcome (if not None)."""

    def acquire_lock(self, feed_id: int, token: str, ttl_seconds: float) -> bool:
        """True when token now holds the feed's lock."""
        ...

    def release_lock(self, feed_id: int, token: str) -> bool:
        """Release the feed's lock if token still holds it."""
        ...

    def renew_lock(self, feed_id: int, token: str, ttl_seconds: float) -> bool:
        """Make the feed's lock expire ttl_seconds from now, if token still holds it."""
        ...

    def take_host_slot(self, host: str, interval_ms: float, max_wait_ms: float) -> float:
        """Seconds until host's next slot; the slot is reserved when that is <= max_wait_ms."""
        ...

    def first_in_window(self, name: str, window_seconds: float) -> bool:
        """True for the first caller in each window of name."""
        ...

    def record_outcome(self, ok: bool, window_size: int) -> None:
        """Add one poll outcome, stamped now, to the outcome window."""

    def outcomes_since(self, since: float, window_size: int) -> list[bool]:
        """Outcomes stamped at or after since (unix time), newest first."""
        ...

    def store_canary(self, answer: bytes, keep_seconds: float) -> None:
        """Keep the canary's answer for keep_seconds."""

    def stored_canary(self) -> bytes | None:
        """The canary's last answer still kept, if any."""
        ...
