"""Feed-lock leases tied to the holder's liveness: a thread renews the locks this process holds.

A poll's lock is taken for one short lease and renewed every third of it while the poll's
process lives, up to the poll's own cap (feed_lock_seconds). A SIGKILLed or frozen-then-killed
worker stops renewing, so its feeds are free again one lease later instead of after the cap.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("newsworker.coordination")

# renew(feed_id, token, ttl_seconds) -> True while token still holds the lock.
Renew = Callable[[int, str, float], bool]


class LockKeeper:
    """Renews held feed locks every lease/3 from a daemon thread started on first use."""

    def __init__(self, renew: Renew, lease_seconds: float) -> None:
        self._renew = renew
        self.lease_seconds = lease_seconds
        self._mutex = threading.Lock()
        # (feed_id, token) -> monotonic time after which the lock is no longer renewed.
        self._held: dict[tuple[int, str], float] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def interval(self) -> float:
        """Seconds between renewals: a third of the lease, so two may fail before it lapses."""
        return self.lease_seconds / 3

    def hold(self, feed_id: int, token: str, *, cap_seconds: float) -> None:
        """Keep renewing this lock until drop() or until cap_seconds from now."""
        with self._mutex:
            self._ensure_thread()
            self._held[(feed_id, token)] = time.monotonic() + cap_seconds

    def drop(self, feed_id: int, token: str) -> None:
        """Stop renewing this lock (its holder is releasing it)."""
        with self._mutex:
            self._held.pop((feed_id, token), None)

    def held(self) -> list[tuple[int, str]]:
        """The locks being renewed now."""
        with self._mutex:
            return list(self._held)

    def renew_all(self) -> int:
        """Renew every held lock once; forget the ones past their cap or lost. Returns renewed."""
        now = time.monotonic()
        with self._mutex:
            items = list(self._held.items())
        renewed = 0
        for (feed_id, token), until in items:
            left = until - now
            kept = False
            if left > 0:
                try:
                    kept = self._renew(feed_id, token, min(self.lease_seconds, left))
                except Exception as e:  # Redis blip: the next pass tries again within the lease
                    log.warning(
                        "feed lock renewal failed", extra={"feed_id": feed_id, "error": str(e)}
                    )
                    continue
            if kept:
                renewed += 1
            else:
                self.drop(feed_id, token)
        return renewed

    def _ensure_thread(self) -> None:
        # A forked child inherits the dict but not the thread, and holds none of the parent's
        # locks: start afresh in each process.
        pid = os.getpid()
        if self._pid != pid:
            self._held.clear()
            self._thread = None
            self._pid = pid
        if self._thread is None or not self._thread.is_alive():
            self._wake = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._wake,), name="feed-lock-keeper", daemon=True
            )
            self._thread.start()

    def _run(self, wake: threading.Event) -> None:
        while not wake.wait(self.interval):
            self.renew_all()

    def stop(self) -> None:
        """End the renewal thread (the locks then lapse one lease later)."""
        self._wake.set()
