"""Redirect hops take a slot of their own host's budget: two real servers, real Redis.

The budget is per host name, so the feed lives on one server reached as 127.0.0.1 and redirects
to a second server reached as localhost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Feed
from newsworker.tasks.pipeline import poll_feed
from newsworker.tasks.runtime import MAX_HOST_WAIT_SECONDS, Runtime, build_runtime
from tests.hostile.feeds import RSS, healthy_feed
from tests.support.http import LocalHTTPServer, Request, Response

pytestmark = pytest.mark.redis


@pytest.fixture
def target_server() -> Iterator[LocalHTTPServer]:
    """The redirect target, reached by the name localhost."""
    server = LocalHTTPServer().start()
    yield server
    server.stop()


def _localhost_url(server: LocalHTTPServer, path: str) -> str:
    return server.url(path).replace("127.0.0.1", "localhost")


def _runtime(tmp_path: Path, redis_url: str, localhost_rate: float) -> Runtime:
    database_url = f"sqlite:///{tmp_path / 'budget.db'}"
    settings = load_settings(
        database_url=database_url,
        broker_url=None,
        redis_url=redis_url,
        jsonl_path=None,
        allow_private_addresses=True,
        host_requests_per_second=1000,
        host_requests_per_second_overrides={"localhost": localhost_rate},
    )
    upgrade(database_url)
    return build_runtime(settings)


def _redirecting_feed(
    runtime: Runtime, origin: LocalHTTPServer, target: LocalHTTPServer, name: str
) -> int:
    target.route(f"/{name}.rss", Response(200, RSS, healthy_feed(name)))
    origin.route(f"/{name}", Response(302, {"Location": _localhost_url(target, f"/{name}.rss")}))
    with runtime.session() as session:
        feed, _ = feed_store.add_feed(session=session, url=origin.url(f"/{name}"))
        session.commit()
        assert feed.id is not None
        return feed.id


def test_a_redirect_target_consumes_its_own_host_budget(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer, target_server: LocalHTTPServer
) -> None:
    runtime = _runtime(tmp_path, redis_url, localhost_rate=0.1)  # one request per 10 s
    feed_id = _redirecting_feed(runtime, http_server, target_server, "hop")
    assert poll_feed(runtime.context, feed_id).status == "ok"
    assert len(target_server.requests) == 1
    # The hop took localhost's slot: without it the next request could go at once.
    wait = runtime.context.coordinator.reserve_host_slot("localhost", max_wait_seconds=0)
    assert 5 < wait <= 10  # (the poll itself took part of the 10 s)


def test_an_exhausted_redirect_target_defers_the_feed_without_counting_an_error(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer, target_server: LocalHTTPServer
) -> None:
    runtime = _runtime(tmp_path, redis_url, localhost_rate=0.01)  # one request per 100 s
    coordinator = runtime.context.coordinator
    assert coordinator.reserve_host_slot("localhost") == 0  # another worker took the slot
    feed_id = _redirecting_feed(runtime, http_server, target_server, "deferred")

    outcome = poll_feed(runtime.context, feed_id)

    assert outcome.status == "throttled"
    assert target_server.requests == []  # the hop was never sent
    assert [r.path for r in http_server.requests] == ["/deferred"]
    with runtime.session() as session:
        feed = session.get_one(Feed, feed_id)
        assert feed.error_count == 0
        assert feed.last_polled_at is not None and feed.next_poll_at is not None
        assert feed.next_poll_at - feed.last_polled_at > timedelta(seconds=90)
        assert feed.last_error and "localhost" in feed.last_error
    # Nothing was reserved for the deferred hop: the budget still ends where the first slot did.
    assert coordinator.reserve_host_slot("localhost", max_wait_seconds=0) > 90


def test_a_short_wait_for_the_redirect_target_is_slept_and_reserved(
    tmp_path: Path, redis_url: str, http_server: LocalHTTPServer, target_server: LocalHTTPServer
) -> None:
    runtime = _runtime(tmp_path, redis_url, localhost_rate=1.0)  # one request per second
    coordinator = runtime.context.coordinator
    assert coordinator.reserve_host_slot("localhost") == 0  # another worker took the slot
    taken_at = time.monotonic()
    feed_id = _redirecting_feed(runtime, http_server, target_server, "waits")
    hop_times: list[float] = []

    def target(_request: Request) -> Response:
        hop_times.append(time.monotonic())
        return Response(200, RSS, healthy_feed("waits"))

    target_server.route("/waits.rss", target)
    assert MAX_HOST_WAIT_SECONDS >= 1.0  # so the 1 s wait is slept, not deferred

    outcome = poll_feed(runtime.context, feed_id)

    assert outcome.status == "ok"
    assert len(hop_times) == 1
    # The hop waited for localhost's next slot, 1 s after the one taken above.
    assert hop_times[0] - taken_at >= 0.95
    with runtime.session() as session:
        assert session.get_one(Feed, feed_id).error_count == 0
    # The hop reserved that slot: the next free one is 2 s after the first, still ahead.
    assert 0 < coordinator.reserve_host_slot("localhost", max_wait_seconds=0) <= 1.05
