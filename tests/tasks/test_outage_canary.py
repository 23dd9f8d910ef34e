"""The outage canary through the real pipeline: real HTTP on 127.0.0.1, real Redis, SQLite."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Feed
from newsworker.tasks.pipeline import poll_feed
from newsworker.tasks.runtime import Runtime, build_runtime
from tests.support.http import LocalHTTPServer, Response

pytestmark = pytest.mark.redis


def _closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/canary"


def _runtime(tmp_path: Path, redis_url: str, canary_url: str, *, guard_off: bool = True) -> Runtime:
    database_url = f"sqlite:///{tmp_path / 'canary.db'}"
    settings = load_settings(
        database_url=database_url,
        broker_url=None,
        redis_url=redis_url,
        jsonl_path=None,
        allow_private_addresses=guard_off,
        outage_canary_url=canary_url,
        host_requests_per_second=1000,
        connect_timeout_seconds=2,
        total_timeout_seconds=5,
    )
    upgrade(database_url)
    return build_runtime(settings)


def _failing_feeds(runtime: Runtime, server: LocalHTTPServer, count: int) -> list[int]:
    ids = []
    with runtime.session() as session:
        for n in range(count):
            server.route(f"/broken/{n}.rss", Response(500, body=b"upstream exploded"))
            feed, _ = feed_store.add_feed(session=session, url=server.url(f"/broken/{n}.rss"))
            assert feed.id is not None
            ids.append(feed.id)
        session.commit()
    return ids


def _error_counts(runtime: Runtime, ids: list[int]) -> list[int]:
    with runtime.session() as session:
        return [session.get_one(Feed, feed_id).error_count for feed_id in ids]


def _canary_hits(server: LocalHTTPServer) -> int:
    return sum(1 for r in server.requests if r.path == "/canary")


def test_canary_up_and_feed_500_is_counted(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer
) -> None:
    http_server.route("/canary", Response(204))
    runtime = _runtime(tmp_path, redis_url, http_server.url("/canary"))
    ids = _failing_feeds(runtime, http_server, 5)
    outcomes = [poll_feed(runtime.context, feed_id) for feed_id in ids]
    assert [o.status for o in outcomes] == ["error"] * 5
    assert _error_counts(runtime, ids) == [1] * 5
    assert [r.method for r in http_server.requests if r.path == "/canary"] == ["HEAD"]


def test_canary_on_a_closed_port_means_outage_and_failures_are_not_counted(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer
) -> None:
    runtime = _runtime(tmp_path, redis_url, _closed_port_url())
    ids = _failing_feeds(runtime, http_server, 3)
    for feed_id in ids:
        assert poll_feed(runtime.context, feed_id).status == "error"
    assert _error_counts(runtime, ids) == [0, 0, 0]
    with runtime.session() as session:
        feed = session.get_one(Feed, ids[0])
        assert feed.last_error and "HTTP 500" in feed.last_error  # recorded, just not counted


def test_one_canary_request_per_window_across_workers(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer
) -> None:
    """Two runtimes on one Redis stand for two workers: 20 failures, one canary request."""
    http_server.route("/canary", Response(503, body=b"down"))
    first = _runtime(tmp_path, redis_url, http_server.url("/canary"))
    second = build_runtime(first.settings)
    ids = _failing_feeds(first, http_server, 20)
    for n, feed_id in enumerate(ids):
        poll_feed((first if n % 2 else second).context, feed_id)
    assert _canary_hits(http_server) == 1
    assert _error_counts(first, ids) == [0] * 20  # a 5xx canary counts as down


def test_canary_refused_by_the_address_guard_is_ignored(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer
) -> None:
    """With the guard on, a loopback canary is never requested and never declares an outage."""
    http_server.route("/canary", Response(204))
    runtime = _runtime(tmp_path, redis_url, http_server.url("/canary"), guard_off=False)
    assert runtime.context.coordinator.probable_outage() is False
    assert _canary_hits(http_server) == 0
