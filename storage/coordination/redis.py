"""The fleet-wide coordination store: every worker shares the same Redis keys."""

from __future__ import annotations

import time
from typing import cast

import redis

from newsworker.storage.coordination.keys import CoordinationKeys
from newsworker.storage.coordination.protocol import PollSlot
from newsworker.storage.coordination.scripts import (
    BEGIN_POLL_LUA,
    END_POLL_LUA,
    HOST_SLOT_LUA,
    RELEASE_LOCK_LUA,
    RENEW_LOCK_LUA,
)


def _ms(seconds: float) -> int:
    """A Redis PX argument: whole milliseconds, at least 1."""
    return max(1, int(seconds * 1000))


def _outcome_entry(ok: bool) -> str:
    return f"{time.time():.3f}:{int(ok)}"


class RedisStore:
    """Coordination state in Redis; each step is one round trip (a Lua script or a pipeline)."""

    name = "redis"

    def __init__(self, client: redis.Redis[bytes], keys: CoordinationKeys) -> None:
        self._redis = client
        self._keys = keys
        self._host_slot = client.register_script(HOST_SLOT_LUA)
        self._release = client.register_script(RELEASE_LOCK_LUA)
        self._renew = client.register_script(RENEW_LOCK_LUA)
        self._begin_poll = client.register_script(BEGIN_POLL_LUA)
        self._end_poll = client.register_script(END_POLL_LUA)

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._redis.close()

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
        """Take the feed lock and, once held, the host slot, in one round trip."""
        keys = [self._keys.feed_lock(feed_id)]
        args: list[int | str] = [token, _ms(lock_seconds)]
        if host:
            keys.append(self._keys.host_budget(host))
            args += [int(interval_ms), int(max_wait_ms)]
        acquired, wait_ms = cast("list[int]", self._begin_poll(keys=keys, args=args))
        return PollSlot(token if acquired else None, int(wait_ms) / 1000)

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None, window_size: int) -> None:
        """Release the lock and record the outcome, in one round trip."""
        entry = "" if outcome is None else _outcome_entry(outcome)
        self._end_poll(
            keys=[self._keys.feed_lock(feed_id), self._keys.poll_outcomes],
            args=[token, entry, window_size],
        )

    def acquire_lock(self, feed_id: int, token: str, ttl_seconds: float) -> bool:
        """SET NX PX on the feed's lock key."""
        key = self._keys.feed_lock(feed_id)
        return bool(self._redis.set(key, token, nx=True, px=_ms(ttl_seconds)))

    def release_lock(self, feed_id: int, token: str) -> bool:
        """Delete the feed's lock key if token still holds it."""
        return bool(self._release(keys=[self._keys.feed_lock(feed_id)], args=[token]))

    def renew_lock(self, feed_id: int, token: str, ttl_seconds: float) -> bool:
        """PEXPIRE the feed's lock key if token still holds it."""
        key = self._keys.feed_lock(feed_id)
        return bool(self._renew(keys=[key], args=[token, _ms(ttl_seconds)]))

    def take_host_slot(self, host: str, interval_ms: float, max_wait_ms: float) -> float:
        """GCRA on the host's budget key, with Redis TIME as the clock."""
        reply = cast(
            "list[int]",
            self._host_slot(
                keys=[self._keys.host_budget(host)], args=[int(interval_ms), int(max_wait_ms)]
            ),
        )
        return int(reply[1]) / 1000

    def first_in_window(self, name: str, window_seconds: float) -> bool:
        """SET NX PX on the window's marker key."""
        return bool(self._redis.set(self._keys.once(name), b"1", nx=True, px=_ms(window_seconds)))

    def record_outcome(self, ok: bool, window_size: int) -> None:
        """LPUSH and LTRIM the outcome list in one pipeline."""
        key = self._keys.poll_outcomes
        pipe = self._redis.pipeline(transaction=False)
        pipe.lpush(key, _outcome_entry(ok))
        pipe.ltrim(key, 0, window_size - 1)
        pipe.execute()

    def outcomes_since(self, since: float, window_size: int) -> list[bool]:
        """The outcome list's entries stamped at or after since."""
        raw = self._redis.lrange(self._keys.poll_outcomes, 0, window_size - 1)
        results: list[bool] = []
        for item in raw:
            stamp, _, flag = item.decode().partition(":")
            if float(stamp) >= since:
                results.append(flag == "1")
        return results

    def store_canary(self, answer: bytes, keep_seconds: float) -> None:
        """SET PX on the canary key."""
        self._redis.set(self._keys.canary, answer, px=_ms(keep_seconds))

    def stored_canary(self) -> bytes | None:
        """GET the canary key."""
        return self._redis.get(self._keys.canary)
