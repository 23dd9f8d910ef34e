"""Recovery time in a real fleet (issue 15): SIGKILL the worker K times, time the last story.

Run from the repo root (needs Redis 127.0.0.1:6379 and PostgreSQL 127.0.0.1:5432, db `test`):
    .venv/bin/python bench/bench_fleet_recovery.py [--feeds 60] [--entries 50] [--kills 5]

A fresh PostgreSQL schema (dropped after), a Redis db of its own (flushed before and after, as
broker, coordination and stream), N feeds of M entries served over HTTP on 127.0.0.1 (each
answer after --delay seconds), a real `newsworker beat` and `newsworker worker --concurrency 2`.
The worker (its whole process group) is SIGKILLed K times at random moments while it polls, and
restarted at once each time. Prints one line: seconds from the last kill to the last story
stored and to the last story on the stream, and the stories missing and published twice.
Settings are the defaults (visibility timeout, lock lease, dispatch lease) unless overridden
with --visibility.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from sqlmodel import func, select

from bench.bench_fleet_round import postgres_schema
from newsworker.storage.db import session_for
from newsworker.storage.models import Story
from tests.faults.corpus import register_feeds, serve_corpus
from tests.support.fleet import Process, fleet_env, run_cli, start_worker, wait_for
from tests.support.http import LocalHTTPServer

STREAM = "bench:recovery:stories"


@contextmanager
def redis_db(number: int) -> Iterator[str]:
    """A Redis db of the bench's own, flushed before and after."""
    url = f"redis://127.0.0.1:6379/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def stories_stored(database_url: str) -> int:
    """Stories in the store."""
    with session_for(database_url) as session:
        return int(session.exec(select(func.count()).select_from(Story)).one())


def stream_keys(redis_url: str) -> list[str]:
    """The idempotency key of every event on the stream, in order."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [fields[b"idempotency_key"].decode() for _, fields in client.xrange(STREAM)]
    finally:
        client.close()


def stream_stories(redis_url: str) -> set[str]:
    """The story ids on the stream."""
    client = redis.Redis.from_url(redis_url)
    try:
        return {fields[b"story_id"].decode() for _, fields in client.xrange(STREAM)}
    finally:
        client.close()


class Clock:
    """When the store and the stream last grew, watched from the bench's own loop."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url, self.redis_url = database_url, redis_url
        self.stored = self.on_stream = 0
        self.stored_at = self.streamed_at = time.monotonic()

    def tick(self) -> None:
        """Read both counts; stamp the moment either grew."""
        stored, on_stream = stories_stored(self.database_url), len(stream_stories(self.redis_url))
        now = time.monotonic()
        if stored > self.stored:
            self.stored, self.stored_at = stored, now
        if on_stream > self.on_stream:
            self.on_stream, self.streamed_at = on_stream, now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=60)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each feed answers after")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--visibility", type=int, help="NEWSWORKER_VISIBILITY_TIMEOUT_SECONDS")
    parser.add_argument("--timeout", type=float, default=300, help="give up this long after")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    expected = args.feeds * args.entries
    server = LocalHTTPServer().start()
    extra = {} if args.visibility is None else {"visibility_timeout_seconds": str(args.visibility)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp,
        redis_db(args.redis_db) as redis_url,
        postgres_schema() as database_url,
    ):
        workdir = Path(tmp)
        env = fleet_env(
            database_url=database_url,
            broker_url=redis_url,
            redis_url=redis_url,
            stream_name=STREAM,
            jsonl_path=str(workdir / "stories.jsonl"),
            allow_private_addresses="true",
            host_requests_per_second_overrides='{"127.0.0.1": 100000}',
            dispatch_interval_seconds="2",
            log_level="WARNING",
            **extra,
        )
        run_cli(env, "db", "upgrade")
        urls = serve_corpus(server, args.feeds, args.entries, delay_seconds=args.delay)
        register_feeds(database_url, urls)
        clock = Clock(database_url, redis_url)
        beat = Process(env, ["beat"], workdir / "beat.log")
        worker = start_worker(env, workdir / "worker0.log")
        started = time.monotonic()
        at_kills: list[int] = []
        try:
            for kill in range(args.kills):
                # A random moment while polls are in hand: the store is still filling.
                time.sleep(rng.uniform(1.0, 6.0))
                clock.tick()
                worker.kill()
                worker.stop()
                last_kill = time.monotonic()
                at_kills.append(clock.stored)
                worker = start_worker(env, workdir / f"worker{kill + 1}.log")
            wait_for(
                lambda: clock.tick() or (clock.stored >= expected and clock.on_stream >= expected),
                timeout=args.timeout,
                interval=0.25,
            )
        finally:
            worker.stop()
            beat.stop()
            server.stop()
        keys = stream_keys(redis_url)
        missing = expected - clock.stored
        twice = len(keys) - len(set(keys))
        print(
            f"fleet recovery: {args.feeds} feeds x {args.entries} entries, {args.kills} SIGKILLs "
            f"of the whole worker (stories stored at each: {at_kills}), visibility "
            f"{args.visibility or 'default'}: last story stored "
            f"{clock.stored_at - last_kill:.1f} s and last on the stream "
            f"{clock.streamed_at - last_kill:.1f} s after the last kill "
            f"({last_kill - started:.0f} s after the first start); "
            f"missing {missing} in the store, {expected - clock.on_stream} on the stream; "
            f"published twice (same key) {twice}, stream events {len(keys)}"
        )


if __name__ == "__main__":
    main()
