"""Benchmark the outbox relay into a Redis Stream: throughput, and lag under steady ingest.

    .venv/bin/python bench/bench_publish.py [--database-url URL] [--redis-url URL]

Phase 1 enqueues --count stories of about --size bytes, then times publish_pending draining
them to the stream from one process. Phase 2 runs a writer thread enqueueing at --rate
stories/s for --seconds while a relay loop publishes, and reports the p50/p95/max lag from
OutboxEvent.created_at to the XADD time (the stream entry id).

It never drops tables. For PostgreSQL give an empty database or schema of your own, e.g.
createdb/CREATE SCHEMA bench, then --database-url
'postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench'.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, SQLModel, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsworker.stages.publish.sinks import RedisStreamSink
from newsworker.storage.db import create_db_engine
from newsworker.storage.models import OutboxEvent
from newsworker.storage.outbox import enqueue_story_batch
from newsworker.tasks.relay import publish_pending
from tests.support.schema import example_story


def make_payloads(count: int, size: int, *, start: int = 0) -> list[dict]:
    """count distinct valid stories of about size bytes of JSON (built before timing)."""
    base = len(json.dumps(example_story(n=0)))
    # The padding lands twice: in article.text and in article.content_html.
    template = example_story(n=0, text_chars=max((size - base) // 2, 0))
    payloads = []
    for n in range(start, start + count):
        story_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{n}"))
        payload = copy.deepcopy(template)
        payload.update(story_id=story_id, idempotency_key=f"{story_id}:1")
        payload["article"]["title"] = f"Story {n}"
        payloads.append(payload)
    return payloads


def enqueue_many(engine, payloads: list[dict], chunk: int = 1000) -> None:
    for first in range(0, len(payloads), chunk):
        with Session(engine) as session:
            enqueue_story_batch(
                session=session, payloads=payloads[first : first + chunk], sinks=["redis"]
            )
            session.commit()


def throughput(engine, sink: RedisStreamSink, args) -> None:
    payloads = make_payloads(args.count, args.size)
    print(f"payload size: {len(json.dumps(payloads[0]))} bytes")
    t0 = time.perf_counter()
    enqueue_many(engine, payloads)
    enqueue_s = time.perf_counter() - t0
    print(f"enqueue: {args.count} stories in {enqueue_s:.2f} s ({args.count / enqueue_s:,.0f}/s)")
    t0 = time.perf_counter()
    report = publish_pending(
        session_factory=lambda: Session(engine), sinks=[sink], batch_size=args.batch_size
    )
    elapsed = time.perf_counter() - t0
    assert report.sinks["redis"].sent == args.count, report
    xlen = sink.client.xlen(sink.stream)
    print(
        f"publish: {args.count} stories to the stream in {elapsed:.2f} s "
        f"= {args.count / elapsed:,.0f} stories/s (batch {args.batch_size}, XLEN {xlen})"
    )


def lag(engine, sink: RedisStreamSink, args) -> None:
    sink.client.delete(sink.stream)
    stop = threading.Event()
    start = 10_000_000
    total = int(args.rate * args.seconds)

    payloads = make_payloads(total, args.size, start=start)

    def writer() -> None:
        interval = 0.01
        written = 0
        t0 = time.perf_counter()
        while written < total:
            due = min(int((time.perf_counter() - t0) * args.rate) + 1, total)
            if due > written:
                enqueue_many(engine, payloads[written:due])
                written = due
            time.sleep(interval)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while True:
        done = stop.is_set()
        report = publish_pending(
            session_factory=lambda: Session(engine), sinks=[sink], batch_size=args.batch_size
        )
        if report.sent == 0:
            if done:
                break
            time.sleep(args.poll_ms / 1000)
    thread.join()
    with Session(engine) as session:
        created = {
            key: at.timestamp()
            for key, at in session.exec(select(OutboxEvent.idempotency_key, OutboxEvent.created_at))
        }
    lags = []
    for entry_id, fields in sink.client.xrange(sink.stream):
        xadd_ms = int(entry_id.split(b"-")[0])
        lags.append((xadd_ms / 1000 - created[fields[b"idempotency_key"].decode()]) * 1000)
    lags.sort()
    p50 = statistics.median(lags)
    p95 = lags[int(len(lags) * 0.95) - 1]
    print(
        f"lag at {args.rate}/s for {args.seconds} s ({len(lags)} stories, relay idle poll "
        f"{args.poll_ms} ms): p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {lags[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--stream", default="bench:stories")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rate", type=float, default=500.0, help="phase 2 ingest rate, stories/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--poll-ms", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = create_db_engine(url)
        SQLModel.metadata.create_all(engine)
        with Session(engine) as session:
            if session.exec(select(OutboxEvent.id).limit(1)).first() is not None:
                sys.exit("the database already holds outbox events: give an empty one")
        sink = RedisStreamSink(args.redis_url, args.stream, maxlen=args.count * 2)
        sink.client.delete(args.stream)
        print(f"database: {engine.url.get_backend_name()}, at {datetime.now(UTC):%Y-%m-%d %H:%M}Z")
        throughput(engine, sink, args)
        lag(engine, sink, args)
        sink.client.delete(args.stream)
        sink.close()
        engine.dispose()


if __name__ == "__main__":
    main()
