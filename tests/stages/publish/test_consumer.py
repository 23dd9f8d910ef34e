"""The reference consumer against real Redis: groups, acks and claiming from dead consumers."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable

import redis

from newsworker.stages.publish.consumer import consume, ensure_group
from newsworker.stages.publish.sinks import RedisStreamSink
from tests.stages.publish.test_sinks import events
from tests.support.schema import assert_valid_story

STREAM = "test:consume"


def publish(redis_url: str, count: int) -> list[str]:
    """XADD count stories through the real sink; return their keys."""
    sink = RedisStreamSink(redis_url, STREAM, maxlen=100_000)
    batch = events(count)
    assert all(o.ok for o in sink.send(batch))
    sink.close()
    return [e.idempotency_key for e in batch]


def keys_in(out: io.StringIO) -> list[str]:
    """Idempotency keys of the JSON lines printed, each a valid story."""
    keys = []
    for line in out.getvalue().splitlines():
        payload = json.loads(line)
        assert_valid_story(payload)
        keys.append(payload["idempotency_key"])
    return keys


def until(outputs: list[io.StringIO], total: int, seconds: float = 10) -> Callable[[], bool]:
    """A stop callback: true once the outputs hold total lines, or after a deadline."""
    deadline = time.monotonic() + seconds

    def stop() -> bool:
        lines = sum(len(o.getvalue().splitlines()) for o in outputs)
        return lines >= total or time.monotonic() > deadline

    return stop


def run(
    redis_url: str,
    group: str,
    consumer: str,
    out: io.StringIO,
    stop: Callable[[], bool],
    min_idle_ms: int = 60000,
) -> int:
    """Run the reference consumer with a short block so tests stay fast."""
    return consume(
        redis_url=redis_url,
        stream=STREAM,
        group=group,
        consumer=consumer,
        out=out,
        block_ms=50,
        count=7,
        min_idle_ms_for_claim=min_idle_ms,
        stop=stop,
    )


def pending(redis_url: str, group: str) -> int:
    """How many entries the group has delivered but not seen acked."""
    client = redis.Redis.from_url(redis_url)
    count = int(client.xpending(STREAM, group)["pending"])
    client.close()
    return count


def test_every_story_arrives_once_per_group(redis_url: str) -> None:
    keys = publish(redis_url, 30)
    for group in ("search", "archive"):
        out = io.StringIO()
        assert run(redis_url, group, "c1", out, until([out], 30)) == 30
        assert keys_in(out) == keys
        assert pending(redis_url, group) == 0
    # A second run of a group prints nothing more: everything was acked.
    out = io.StringIO()
    deadline = time.monotonic() + 0.3
    assert run(redis_url, "search", "c1", out, lambda: time.monotonic() > deadline) == 0


def test_consumers_of_one_group_share_the_stream_without_duplicates(redis_url: str) -> None:
    keys = publish(redis_url, 40)
    outs = [io.StringIO(), io.StringIO()]
    stop = until(outs, 40)
    threads = [
        threading.Thread(target=run, args=(redis_url, "g", f"c{i}", out, stop))
        for i, out in enumerate(outs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    seen = keys_in(outs[0]) + keys_in(outs[1])
    assert sorted(seen) == sorted(keys)


def test_dead_consumers_pending_entries_are_claimed_by_another(redis_url: str) -> None:
    keys = publish(redis_url, 12)
    client = redis.Redis.from_url(redis_url)
    ensure_group(client, STREAM, "g")
    # "dead" reads five entries and never acks them.
    client.xreadgroup("g", "dead", {STREAM: ">"}, count=5)
    assert pending(redis_url, "g") == 5
    time.sleep(0.1)
    out = io.StringIO()
    assert run(redis_url, "g", "alive", out, until([out], 12), min_idle_ms=50) == 12
    assert sorted(keys_in(out)) == sorted(keys)
    assert pending(redis_url, "g") == 0
    consumers = {c["name"]: c["pending"] for c in client.xinfo_consumers(STREAM, "g")}
    assert consumers[b"dead"] == 0
    client.close()


def test_restarted_consumer_first_prints_its_own_unacked_entries(redis_url: str) -> None:
    keys = publish(redis_url, 6)
    client = redis.Redis.from_url(redis_url)
    ensure_group(client, STREAM, "g")
    client.xreadgroup("g", "c1", {STREAM: ">"}, count=4)
    client.close()
    out = io.StringIO()
    assert run(redis_url, "g", "c1", out, until([out], 6)) == 6
    assert keys_in(out) == keys
    assert pending(redis_url, "g") == 0


def test_group_is_created_on_a_missing_stream(redis_url: str) -> None:
    out = io.StringIO()
    deadline = time.monotonic() + 0.2
    assert run(redis_url, "fresh", "c1", out, lambda: time.monotonic() > deadline) == 0
    client = redis.Redis.from_url(redis_url)
    assert client.exists(STREAM) == 1
    assert not ensure_group(client, STREAM, "fresh")
    client.close()
