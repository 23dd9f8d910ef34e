"""The reference stream consumer: a consumer group reader that prints JSON Lines.

It is the example docs/consumers.md walks through and the `newsworker stories consume` tool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import redis

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]


def ensure_group(client: redis.Redis[bytes], stream: str, group: str) -> bool:
    """Create the group from the start of the stream (MKSTREAM); False when it existed."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" in str(e):
            return False
        raise
    return True


def _emit(
    client: redis.Redis[bytes], stream: str, group: str, entries: Sequence[Entry], out: TextIO
) -> int:
    """Print each entry's payload as one line, then ack them all; return how many printed."""
    if not entries:
        return 0
    printed = 0
    for entry_id, fields in entries:
        payload = (fields or {}).get(b"payload")
        if payload is None:
            # Trimmed away or not ours: nothing to print, but it must leave the pending list.
            log.warning("stream %s entry %r has no payload; acking it", stream, entry_id)
            continue
        out.write(payload.decode())
        out.write("\n")
        printed += 1
    out.flush()
    client.xack(stream, group, *[entry_id for entry_id, _ in entries])  # type: ignore[no-untyped-call]
    return printed


def claim_abandoned(
    client: redis.Redis[bytes],
    stream: str,
    group: str,
    consumer: str,
    *,
    min_idle_ms: int,
    count: int,
) -> list[Entry]:
    """XAUTOCLAIM every entry idle for min_idle_ms in the group's pending list."""
    claimed: list[Entry] = []
    cursor: bytes | str = "0-0"
    while True:
        reply: Any = client.xautoclaim(
            stream, group, consumer, min_idle_time=min_idle_ms, start_id=cursor, count=count
        )
        cursor, entries = reply[0], reply[1]
        claimed.extend((entry_id, fields) for entry_id, fields in entries)
        if cursor in (b"0-0", "0-0") or not entries:
            return claimed


def _read(
    client: redis.Redis[bytes],
    stream: str,
    group: str,
    consumer: str,
    start: str,
    *,
    count: int,
    block_ms: int | None,
) -> list[Entry]:
    reply: Any = client.xreadgroup(group, consumer, {stream: start}, count=count, block=block_ms)
    if not reply:
        return []
    # RESP2 gives [[stream, entries]], RESP3 a {stream: [entries]} mapping.
    streams = reply.values() if isinstance(reply, dict) else [r[1] for r in reply]
    return [(entry_id, fields) for entries in streams for entry_id, fields in entries]


def consume(
    *,
    redis_url: str,
    stream: str,
    group: str,
    consumer: str,
    out: TextIO,
    block_ms: int = 5000,
    count: int = 100,
    min_idle_ms_for_claim: int = 60000,
    stop: Callable[[], bool] = lambda: False,
    client: redis.Redis[bytes] | None = None,
) -> int:
    """Read the stream as a group member, print payloads as JSON Lines, ack; return the count."""
    own_client = client is None
    conn = client or redis.Redis.from_url(redis_url, socket_timeout=block_ms / 1000 + 10)
    printed = 0
    try:
        ensure_group(conn, stream, group)
        # First what this consumer name read before a restart and never acked.
        while entries := _read(conn, stream, group, consumer, "0", count=count, block_ms=None):
            printed += _emit(conn, stream, group, entries, out)
        while not stop():
            abandoned = claim_abandoned(
                conn, stream, group, consumer, min_idle_ms=min_idle_ms_for_claim, count=count
            )
            printed += _emit(conn, stream, group, abandoned, out)
            fresh = _read(conn, stream, group, consumer, ">", count=count, block_ms=block_ms)
            printed += _emit(conn, stream, group, fresh, out)
    finally:
        if own_client:
            conn.close()
    return printed
