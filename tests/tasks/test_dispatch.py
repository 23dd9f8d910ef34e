"""Dispatching: due feeds are handed out once, even to concurrent dispatchers; one poll per feed."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import create_db_engine
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import utcnow
from newsworker.tasks import celery_tasks
from newsworker.tasks.pipeline import poll_feed
from newsworker.tasks.runtime import build_runtime, set_runtime
from tests.support.http import LocalHTTPServer, Response


def _add_feeds(engine: Engine, count: int) -> None:
    with Session(engine) as session:
        for index in range(count):
            feed_store.add_feed(
                session=session, url=f"https://feeds{index % 7}.example/{index}.xml"
            )
        session.commit()


def test_due_feeds_are_claimed_once_and_leased(session: Session, engine: Engine) -> None:
    _add_feeds(engine, 30)
    now = utcnow() + timedelta(seconds=1)
    first = feed_store.claim_due_feeds(
        session=session, now=now, limit=20, lease=timedelta(minutes=5)
    )
    second = feed_store.claim_due_feeds(
        session=session, now=now, limit=20, lease=timedelta(minutes=5)
    )
    assert len(first) == 20 and len(second) == 10 and not set(first) & set(second)
    assert (
        feed_store.claim_due_feeds(session=session, now=now, limit=20, lease=timedelta(minutes=5))
        == []
    )
    # A later --all round hands out every pollable feed, due or not (leased ones included).
    everything = feed_store.claim_due_feeds(
        session=session,
        now=now + timedelta(seconds=1),
        limit=100,
        lease=timedelta(minutes=5),
        include_not_due=True,
    )
    assert len(everything) == 30


@pytest.mark.postgres
def test_concurrent_dispatchers_never_hand_out_one_feed_twice(postgres_url: str) -> None:
    """Four dispatchers race over 400 due feeds on PostgreSQL (FOR UPDATE SKIP LOCKED)."""
    engine = create_db_engine(postgres_url)
    upgrade(postgres_url)
    _add_feeds(engine, 400)
    claimed: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)
    now = utcnow() + timedelta(seconds=1)

    def dispatcher(slot: int) -> None:
        start.wait()
        while True:
            with Session(engine) as session:
                ids = feed_store.claim_due_feeds(
                    session=session, now=now, limit=7, lease=timedelta(minutes=5)
                )
            if not ids:
                return
            claimed[slot].extend(ids)

    threads = [threading.Thread(target=dispatcher, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [feed_id for ids in claimed for feed_id in ids]
    assert len(every) == 400, "every due feed is handed out"
    assert len(set(every)) == 400, "no feed is handed out twice"
    assert sum(1 for ids in claimed if ids) >= 2, "the dispatchers really ran side by side"
    engine.dispose()


def test_two_concurrent_polls_of_one_feed_fetch_it_once(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    """A redelivered or double-dispatched poll finds the feed lock taken and does nothing."""
    release = threading.Event()

    def slow_feed(_request: object) -> Response:
        release.wait(5)
        body = b"<rss version='2.0'><channel><title>t</title><item><title>A</title>"
        body += b"<link>https://x.example/a</link><description>Body text.</description>"
        body += b"</item></channel></rss>"
        return Response(200, {"Content-Type": "application/rss+xml"}, body)

    http_server.route("/feed.xml", slow_feed)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'lock.db'}", broker_url=None, redis_url=None,
        jsonl_path=None, allow_private_addresses=True,
    )  # fmt: skip
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    with runtime.session() as session:
        feed, _ = feed_store.add_feed(session=session, url=http_server.url("/feed.xml"))
        session.commit()
        assert feed.id is not None
        feed_id = feed.id
    outcomes: list[str] = []
    first = threading.Thread(
        target=lambda: outcomes.append(poll_feed(runtime.context, feed_id).status)
    )
    first.start()
    deadline = time.monotonic() + 5
    while not http_server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    outcomes.append(poll_feed(runtime.context, feed_id).status)  # while the first is fetching
    release.set()
    first.join(10)
    assert sorted(outcomes) == ["locked", "ok"]
    assert len(http_server.requests) == 1


def test_dispatch_all_pages_through_more_feeds_than_one_batch(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--all with 25 feeds and batches of 10: the task claims 10, 10, 5, then stops."""
    settings = load_settings(
        database_url=sqlite_url, broker_url=None, redis_url=None, jsonl_path=None,
        dispatch_batch_size=10,
    )  # fmt: skip
    upgrade(sqlite_url)
    engine = create_db_engine(sqlite_url)
    _add_feeds(engine, 25)
    engine.dispose()
    claimed: list[list[int]] = []
    real_claim = feed_store.claim_due_feeds

    def claim(**kwargs: Any) -> list[int]:
        ids = real_claim(**kwargs)
        claimed.append(ids)
        assert len(claimed) < 10, "dispatch --all must terminate"
        return ids

    queued: list[int] = []
    monkeypatch.setattr(feed_store, "claim_due_feeds", claim)
    monkeypatch.setattr(celery_tasks.poll_feed, "delay", queued.append)
    set_runtime(build_runtime(settings))
    try:
        assert celery_tasks.dispatch_due_feeds(all_feeds=True) == 25
    finally:
        set_runtime(None)
    assert [len(ids) for ids in claimed] == [10, 10, 5]
    assert sorted(queued) == sorted(i for ids in claimed for i in ids)
    assert len(set(queued)) == 25
