"""Fault-test corpus and checks: feeds on a local server; the store and the stream, compared."""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func
from sqlmodel import Session, select

from newsworker.config.settings import load_settings
from newsworker.storage.db import create_db_engine
from newsworker.storage.feeds import add_feed
from newsworker.storage.models import Delivery, DeliveryStatus, Feed, Story
from newsworker.worker.app import create_app
from tests.support.fleet import fleet_env
from tests.support.http import LocalHTTPServer, Request, Response

WORDS = [
    "harbor",
    "council",
    "budget",
    "river",
    "election",
    "vaccine",
    "orbit",
    "tariff",
    "wildfire",
    "court",
    "bridge",
    "festival",
    "museum",
    "drought",
    "senate",
    "transit",
    "reactor",
    "glacier",
    "merger",
    "strike",
    "census",
    "summit",
    "pipeline",
    "rover",
]
STREAM = "test:faults:stories"


def rss_feed(feed_no: int, entries: int, seed: int = 0) -> bytes:
    """An RSS 2.0 feed whose entries all have distinct links, GUIDs and texts."""
    rng = random.Random(f"{seed}:{feed_no}")
    items = []
    for n in range(entries):
        words = " ".join(rng.choice(WORDS) for _ in range(60))
        items.append(
            f"<item><guid>urn:fault:{feed_no}:{n}</guid>"
            f"<link>https://news.example.org/{feed_no}/{n}</link>"
            f"<title>Feed {feed_no} entry {n} {rng.choice(WORDS)}</title>"
            f"<pubDate>Mon, 0{1 + n % 9} Jun 2026 10:{n % 60:02d}:00 +0000</pubDate>"
            f"<description>Report {feed_no}-{n}: {words}.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Fault feed {feed_no}</title><link>https://news.example.org/{feed_no}</link>"
        f"<description>fault corpus</description>{''.join(items)}</channel></rss>"
    ).encode()


def serve_corpus(
    server: LocalHTTPServer, feeds: int, entries: int, *, delay_seconds: float = 0.0
) -> list[str]:
    """Serve feeds × entries on server (each response after delay_seconds); returns the URLs."""
    urls = []
    for feed_no in range(feeds):
        body = rss_feed(feed_no, entries)

        def handler(_request: Request, _body: bytes = body) -> Response:
            if delay_seconds:
                time.sleep(delay_seconds)
            return Response(200, {"Content-Type": "application/rss+xml; charset=utf-8"}, _body)

        path = f"/fault/{feed_no}.rss"
        server.route(path, handler)
        urls.append(server.url(path))
    return urls


def register_feeds(database_url: str, urls: list[str]) -> None:
    """Register feeds straight in the store (the schema must exist)."""
    engine = create_db_engine(database_url, pool=False)
    with Session(engine) as session:
        for url in urls:
            add_feed(session=session, url=url)
        session.commit()
    engine.dispose()


@dataclass
class StoreState:
    """What the store holds: story ids with revisions, and deliveries not yet sent."""

    stories: dict[str, int]
    unsent: int


def store_state(database_url: str) -> StoreState:
    """Read the stories and the outbox backlog."""
    engine = create_db_engine(database_url, pool=False)
    try:
        with Session(engine) as session:
            stories = {s.story_id: s.revision for s in session.exec(select(Story)).all()}
            unsent = session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status != DeliveryStatus.SENT)
            ).one()
        return StoreState(stories=stories, unsent=int(unsent))
    finally:
        engine.dispose()


def stream_events(redis_url: str, stream: str = STREAM) -> list[dict[str, Any]]:
    """Every event on the stream: story_id, revision, idempotency_key and the payload."""
    client = redis.Redis.from_url(redis_url)
    try:
        events = []
        for _id, fields in client.xrange(stream):
            events.append(
                {
                    "story_id": fields[b"story_id"].decode(),
                    "revision": int(fields[b"revision"]),
                    "idempotency_key": fields[b"idempotency_key"].decode(),
                    "payload": json.loads(fields[b"payload"]),
                }
            )
        return events
    finally:
        client.close()


def assert_each_entry_one_story(
    state: StoreState, events: list[dict[str, Any]], expected: int
) -> dict[str, int]:
    """Every entry is one story in the store and on the stream; duplicates share their key."""
    assert len(state.stories) == expected, f"{len(state.stories)} stories stored, not {expected}"
    assert state.unsent == 0, f"{state.unsent} deliveries still unsent"
    on_stream = {e["story_id"] for e in events}
    assert on_stream == set(state.stories), (
        f"missing on stream: {len(set(state.stories) - on_stream)}, "
        f"extra on stream: {len(on_stream - set(state.stories))}"
    )
    by_story: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for event in events:
        assert event["payload"]["story_id"] == event["story_id"]
        assert event["payload"]["revision"] == event["revision"]
        by_story[event["story_id"]].add((event["revision"], event["idempotency_key"]))
    for story_id, keys in by_story.items():
        assert len(keys) == 1, f"{story_id} went out with different revisions/keys: {keys}"
    titles = [e["payload"]["article"]["title"] for e in events]
    assert len(set(titles)) == expected
    return {"stream_events": len(events), "duplicates": len(events) - len(on_stream)}


def worker_env(database_url: str, broker_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The fleet environment fault tests share: fast lock, visibility and time limits."""
    values: Mapping[str, str] = {
        "database_url": database_url,
        "broker_url": broker_url,
        "redis_url": broker_url,
        "stream_name": STREAM,
        "jsonl_path": str(tmp_path / "stories.jsonl"),
        "allow_private_addresses": "true",
        "host_requests_per_second": "1000",
        "feed_lock_seconds": "4",
        "visibility_timeout_seconds": "12",
        "task_soft_time_limit_seconds": "8",
        "task_time_limit_seconds": "10",
        "log_level": "INFO",
        **extra,
    }
    return fleet_env(**values)


def feed_ids(database_url: str) -> list[int]:
    """Every registered feed id."""

    engine = create_db_engine(database_url, pool=False)
    try:
        with Session(engine) as session:
            return [f.id for f in session.exec(select(Feed)).all() if f.id is not None]
    finally:
        engine.dispose()


def enqueue_polls(broker_url: str, ids: list[int]) -> None:
    """Put one poll_feed message per feed on the broker's poll queue, as dispatch does."""

    app = create_app(load_settings(broker_url=broker_url, database_url="sqlite://"))
    try:
        with app.producer_or_acquire() as producer:
            for feed_id in ids:
                app.send_task("newsworker.poll_feed", args=[feed_id], producer=producer)
    finally:
        app.close()


def queue_length(broker_url: str, queue: str = "poll") -> int:
    """Messages waiting on a Celery queue (Redis list), not counting those in flight."""
    client = redis.Redis.from_url(broker_url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def send_task(broker_url: str, name: str, **kwargs: object) -> None:
    """Send one task by name through our app's routes (what beat and dispatch do)."""

    app = create_app(load_settings(broker_url=broker_url, database_url="sqlite://"))
    try:
        app.send_task(name, kwargs=kwargs)
    finally:
        app.close()
