"""One `newsworker run --once` round, as a user runs it: good feeds next to every hostile one.

A real `newsworker run --once --all` process against a fresh SQLite store; the feeds are served
on 127.0.0.1 by a real HTTP server and a raw TCP server (for responses no HTTP library would
send). The private-address guard stays on: the process runs through
tests/hostile/guarded_worker.py, whose network model counts only 127.0.0.1 as public.

Every good feed's stories are stored and published, every bad feed has exactly one recorded
error that names it, and the process exits 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsworker.storage.db import create_db_engine
from newsworker.storage.feeds import add_feed
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import ArticleRecord, Feed, FeedErrorRecord
from tests.hostile.feeds import (
    RSS,
    PrivateTarget,
    deeply_nested_feed,
    healthy_feed,
    healthy_json_feed,
    malformed_json_feed,
)
from tests.support import fleet
from tests.support.fleet import fleet_env, run_cli
from tests.support.http import LocalHTTPServer, Response
from tests.support.raw_http import RawHTTPServer, redirect

ENTRIES = 3
JSON_FEED = {"Content-Type": "application/feed+json"}

# Sent as a redirect's Location, byte for byte.
BAD_LOCATIONS = {
    "location_mailto": b"mailto:editor@example.com",
    "location_data": b"data:application/rss+xml,<rss/>",
    "location_javascript": b"javascript:alert(1)",
    "location_file": b"file:///etc/passwd",
    "location_malformed": b"http://[zz",
    "location_empty": b"",
    "location_space_in_host": b"http://exa mple.com/feed",
    "location_control_char": b"http://example.com/\x01feed",
    "location_port_out_of_range": b"http://127.0.0.1:99999/feed",
    "location_bad_idna": b"http://xn--a.example/feed",
}
# Answers no HTTP library would send.
BAD_RESPONSES = {
    "bad_status_line": b"HTTP/1.1 abc OK\r\n\r\n",
    "bad_header_bytes": b"HTTP/1.1 200 OK\r\nX\x00Bad: y\r\nContent-Length: 2\r\n\r\nok",
    "bad_chunk_encoding": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
}
# Stored by an older version that did not check URLs.
BAD_STORED_URLS = ("http://[zz", "http://exa mple.com/feed", "http://127.0.0.1:99999/feed")


@pytest.fixture
def raw_server() -> Iterator[RawHTTPServer]:
    server = RawHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def private_target() -> Iterator[PrivateTarget]:
    target = PrivateTarget()
    yield target
    target.stop()


def _serve(
    http_server: LocalHTTPServer, raw_server: RawHTTPServer, private: PrivateTarget
) -> tuple[dict[str, str], dict[str, str]]:
    """Route every case; returns (good name -> URL, bad name -> URL), good ones interleaved."""
    good: dict[str, str] = {}
    for name in ("alpha", "bravo", "charlie", "delta"):
        http_server.route(f"/good/{name}.rss", Response(200, RSS, healthy_feed(name, ENTRIES)))
        good[name] = http_server.url(f"/good/{name}.rss")
    http_server.route("/good/echo.json", Response(200, JSON_FEED, healthy_json_feed("echo")))
    good["echo"] = http_server.url("/good/echo.json")
    http_server.route("/good/foxtrot.rss", Response(200, RSS, healthy_feed("foxtrot", ENTRIES)))
    http_server.route("/moved/foxtrot", Response(301, {"Location": "/good/foxtrot.rss"}))
    good["foxtrot"] = http_server.url("/moved/foxtrot")

    bad = {
        name: raw_server.route(f"/{name}", redirect(location))
        for name, location in BAD_LOCATIONS.items()
    }
    bad |= {name: raw_server.route(f"/{name}", raw) for name, raw in BAD_RESPONSES.items()}
    http_server.route("/bad/private", Response(302, {"Location": private.url("/internal.rss")}))
    bad["redirect_to_private"] = http_server.url("/bad/private")
    http_server.route("/bad/cut.json", Response(200, JSON_FEED, malformed_json_feed()))
    bad["malformed_json_feed"] = http_server.url("/bad/cut.json")
    http_server.route("/bad/deep.rss", Response(200, RSS, deeply_nested_feed()))
    bad["deeply_nested_feed"] = http_server.url("/bad/deep.rss")
    bad |= {f"stored_url_{n}": url for n, url in enumerate(BAD_STORED_URLS)}
    return good, bad


def _register_interleaved(database_url: str, good: list[str], bad: list[str]) -> None:
    """Good feeds first, between the bad ones and last, so a crash anywhere would show."""
    order = [good[0], *bad[: len(bad) // 2], *good[1:-1], *bad[len(bad) // 2 :], good[-1]]
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        for url in order:
            add_feed(session=session, url=url)
        session.commit()
    engine.dispose()


def test_one_round_with_every_hostile_feed_keeps_every_good_feed(
    tmp_path: Path,
    http_server: LocalHTTPServer,
    raw_server: RawHTTPServer,
    private_target: PrivateTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, bad = _serve(http_server, raw_server, private_target)
    database_url = f"sqlite:///{tmp_path / 'mixed.db'}"
    jsonl = tmp_path / "stories.jsonl"
    upgrade(database_url)
    _register_interleaved(database_url, list(good.values()), list(bad.values()))
    env = fleet_env(
        database_url=database_url,
        jsonl_path=str(jsonl),
        broker_url="",
        redis_url="",
        allow_private_addresses="false",
        host_requests_per_second="1000",
        read_timeout_seconds="3",
        total_timeout_seconds="5",
    )

    monkeypatch.setattr(fleet, "NEWSWORKER", [sys.executable, "-m", "tests.hostile.guarded_worker"])
    result = run_cli(env, "run", "--once", "--all", timeout=180)

    assert result.returncode == 0
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        feeds = {f.url: f for f in session.exec(select(Feed)).all()}
        errors = session.exec(select(FeedErrorRecord)).all()
        articles = session.exec(select(ArticleRecord)).all()
    engine.dispose()
    published = [json.loads(line) for line in jsonl.read_text().splitlines()]
    published_text = json.dumps(published)

    for name, url in good.items():
        feed = feeds[url]
        stored = [a for a in articles if a.feed_id == feed.id]
        assert len(stored) == ENTRIES, f"{name}: {len(stored)} stored; {feed.last_error}"
        assert not [e for e in errors if e.feed_id == feed.id], f"{name}: {feed.last_error}"
        for n in range(ENTRIES):
            assert f"https://healthy.example.org/{name}/{n}" in published_text, name
    for name, url in bad.items():
        feed = feeds[url]
        recorded = [e for e in errors if e.feed_id == feed.id]
        assert len(recorded) == 1, f"{name}: {[(e.kind, e.message) for e in recorded]}"
        assert url in recorded[0].message, f"{name}: {recorded[0].message}"
        assert feed.last_error and feed.error_count >= 1, name
        assert feed.next_poll_at is not None and feed.next_poll_at > feed.last_polled_at, name
        assert not [a for a in articles if a.feed_id == feed.id], name
    assert private_target.hits == 0, "the redirect reached the private address"
    assert len(published) == len(good) * ENTRIES
