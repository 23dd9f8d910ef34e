"""Fetcher against a real HTTP server on 127.0.0.1 (no mocked transports)."""

from __future__ import annotations

import gzip
import hashlib
import socket
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import pytest

from newsworker.stages.discovery import discover_feed_links, looks_like_html
from newsworker.stages.errors import (
    BlockedURL,
    BodyTooLarge,
    FeedGone,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    RateLimited,
    TooManyRedirects,
)
from newsworker.stages.fetch import (
    Fetcher,
    FetchPolicy,
    host_budget_hook,
    is_public_address,
    parse_retry_after,
)
from newsworker.stages.schedule import next_redirect_state
from tests.support.http import LocalHTTPServer, Request, Response

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>http://example.com/</link>
<item><title>Caf\xc3\xa9 news</title><link>http://example.com/1</link><guid>1</guid></item>
</channel></rss>"""

LOCAL = FetchPolicy(allow_private_addresses=True, total_timeout=5, read_timeout=2)


@pytest.fixture(scope="module")
def http_server() -> Iterator[LocalHTTPServer]:
    """One server for the module (each test routes its own paths): saves a shutdown per test."""
    server = LocalHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LOCAL) as f:
        yield f


def capped(max_body_bytes: int) -> Fetcher:
    return Fetcher(FetchPolicy(allow_private_addresses=True, max_body_bytes=max_body_bytes))


def feed(status: int = 200, **headers: str) -> Response:
    return Response(status, {"Content-Type": "application/rss+xml; charset=utf-8", **headers}, RSS)


def redirect(status: int, location: str) -> Response:
    return Response(status, {"Location": location})


def test_200_returns_body_headers_and_hash(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route(
        "/feed", feed(ETag='"v1"', **{"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})
    )
    result = fetcher.fetch(http_server.url("/feed"))
    assert result.status == 200
    assert result.body == RSS
    assert result.body_hash == hashlib.sha256(RSS).hexdigest()
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert result.permanent_redirect_url is None
    request = http_server.requests[-1]
    assert request.headers["user-agent"] == LOCAL.user_agent
    assert "gzip" in request.headers["accept-encoding"]


def test_304_with_conditional_headers(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    def conditional(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(304, {"ETag": '"v1"'})
        return feed(ETag='"v1"')

    http_server.route("/feed", conditional)
    first = fetcher.fetch(http_server.url("/feed"))
    second = fetcher.fetch(
        http_server.url("/feed"), etag=first.etag, last_modified="Mon, 01 Jan 2024 00:00:00 GMT"
    )
    assert second.not_modified and second.status == 304 and second.body is None
    assert second.etag == '"v1"'
    assert http_server.requests[-1].headers["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_unchanged_body_hash_skips_body(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/feed", feed())
    first = fetcher.fetch(http_server.url("/feed"))
    second = fetcher.fetch(http_server.url("/feed"), previous_body_hash=first.body_hash)
    assert second.not_modified and second.body is None and second.status == 200


def test_301_repeated_is_persisted_after_confirmations(
    http_server: LocalHTTPServer, fetcher: Fetcher
) -> None:
    http_server.route("/old", redirect(301, "/mid"))
    http_server.route("/mid", redirect(308, "/new"))
    http_server.route("/new", feed())
    old, new = http_server.url("/old"), http_server.url("/new")
    state: tuple[str | None, str | None, int] = (None, None, 0)
    persisted = []
    for _ in range(3):
        result = fetcher.fetch(old)
        assert result.final_url == new and result.body == RSS
        assert result.permanent_redirect_url == new
        state = next_redirect_state(old, state[1], state[2], result.permanent_redirect_url, 3)
        persisted.append(state[0])
    assert persisted == [None, None, new]


def test_302_and_307_are_never_permanent(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/a", redirect(301, "/b"))
    http_server.route("/b", redirect(302, "/feed"))
    http_server.route("/c", redirect(307, "/feed"))
    http_server.route("/feed", feed())
    for path in ("/a", "/c"):
        result = fetcher.fetch(http_server.url(path))
        assert result.final_url == http_server.url("/feed")
        assert result.permanent_redirect_url is None


def test_redirect_loop_is_an_error(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/a", redirect(301, "/b"))
    http_server.route("/b", redirect(302, "/a"))
    with pytest.raises(TooManyRedirects, match="loop") as info:
        fetcher.fetch(http_server.url("/a"))
    assert info.value.url == http_server.url("/a")


def test_too_many_redirects(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    for i in range(7):
        http_server.route(f"/r{i}", redirect(302, f"/r{i + 1}"))
    http_server.route("/r7", feed())
    with pytest.raises(TooManyRedirects, match="more than 5"):
        fetcher.fetch(http_server.url("/r0"))
    assert fetcher.fetch(http_server.url("/r2")).status == 200  # exactly 5 hops is fine


def test_before_request_runs_once_per_new_redirect_host(http_server: LocalHTTPServer) -> None:
    port = http_server.base_url.rsplit(":", 1)[1]
    http_server.route("/hop/a", redirect(302, "/hop/b"))  # same host: the caller's slot covers it
    http_server.route("/hop/b", redirect(302, f"http://localhost:{port}/hop/c"))
    http_server.route("/hop/c", redirect(302, f"http://localhost:{port}/hop/d"))
    http_server.route("/hop/d", feed())
    hosts: list[str] = []
    with Fetcher(LOCAL, before_request=hosts.append) as f:
        assert f.fetch(http_server.url("/hop/a")).status == 200
        assert hosts == ["localhost"]
        hosts.clear()
        assert f.fetch(http_server.url("/hop/d")).status == 200
    assert hosts == []


def test_before_request_can_defer_the_fetch(http_server: LocalHTTPServer) -> None:
    port = http_server.base_url.rsplit(":", 1)[1]
    http_server.route("/budget/feed", redirect(302, f"http://localhost:{port}/budget/target"))
    http_server.route("/budget/target", feed())
    reserved: list[str] = []

    def reserve(host: str, *, max_wait_seconds: float) -> float:
        reserved.append(host)
        return 42.0  # past the max wait: nothing reserved, come back in 42 s

    hook = host_budget_hook(reserve, max_wait_seconds=2.0)
    with Fetcher(LOCAL, before_request=hook) as f, pytest.raises(RateLimited) as info:
        f.fetch(http_server.url("/budget/feed"))
    assert reserved == ["localhost"]
    assert info.value.retry_after_seconds == 42.0
    assert info.value.url == http_server.url("/budget/feed")
    assert not info.value.counts_as_error
    assert not any(r.path == "/budget/target" for r in http_server.requests)


def test_probe_answers_up_down_and_blocked(http_server: LocalHTTPServer) -> None:
    http_server.route("/probe/up", Response(204))
    http_server.route("/probe/missing", Response(405))  # any answer below 500: reachable
    http_server.route("/probe/broken", Response(502))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    with Fetcher(LOCAL) as f:
        assert f.probe(http_server.url("/probe/up"))
        assert f.probe(http_server.url("/probe/missing"))
        assert not f.probe(http_server.url("/probe/broken"))
        assert not f.probe(closed)
    assert [r.method for r in http_server.requests if r.path.startswith("/probe/")] == ["HEAD"] * 3
    with Fetcher(FetchPolicy()) as guarded, pytest.raises(BlockedURL):
        guarded.probe(http_server.url("/probe/up"))


def test_probe_stops_at_the_total_timeout(http_server: LocalHTTPServer) -> None:
    def silent(_request: Request) -> Response:
        time.sleep(3)
        return Response(204)

    http_server.route("/probe/silent", silent)
    started = time.monotonic()
    with Fetcher(FetchPolicy(allow_private_addresses=True, total_timeout=0.5)) as f:
        assert not f.probe(http_server.url("/probe/silent"))
    assert time.monotonic() - started < 2


def test_410_gone(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/gone", Response(410, body=b"gone"))
    with pytest.raises(FeedGone, match="410") as info:
        fetcher.fetch(http_server.url("/gone"))
    assert http_server.url("/gone") in str(info.value)
    assert not info.value.retryable


def test_429_retry_after_seconds(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/limited", Response(429, {"Retry-After": "120"}))
    with pytest.raises(RateLimited) as info:
        fetcher.fetch(http_server.url("/limited"))
    assert info.value.retry_after_seconds == 120
    assert not info.value.counts_as_error


def test_503_retry_after_http_date(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    http_server.route("/busy", Response(503, {"Retry-After": when}))
    with pytest.raises(RateLimited) as info:
        fetcher.fetch(http_server.url("/busy"))
    assert 590 <= info.value.retry_after_seconds <= 600


def test_429_without_retry_after_counts(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/limited", Response(429))
    with pytest.raises(HTTPStatusError) as info:
        fetcher.fetch(http_server.url("/limited"))
    assert info.value.status == 429 and info.value.counts_as_error


def test_500_and_404_are_errors(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/boom", Response(500, body=b"oops"))
    with pytest.raises(HTTPStatusError) as info:
        fetcher.fetch(http_server.url("/boom"))
    assert info.value.status == 500 and http_server.url("/boom") in str(info.value)
    with pytest.raises(HTTPStatusError) as info:
        fetcher.fetch(http_server.url("/missing"))
    assert info.value.status == 404


def test_connection_refused_is_fetch_error(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="network error") as info:
        fetcher.fetch("http://127.0.0.1:9/feed")
    assert type(info.value) is FetchError


def test_slow_drip_is_cut_at_total_timeout(http_server: LocalHTTPServer) -> None:
    def drip() -> Iterator[bytes]:
        yield b"<rss>"
        for _ in range(100):
            time.sleep(0.1)
            yield b" "

    http_server.route("/drip", lambda _r: Response(200, {"Content-Type": "text/xml"}, drip()))
    policy = FetchPolicy(allow_private_addresses=True, total_timeout=1.0, read_timeout=5.0)
    started = time.monotonic()
    with Fetcher(policy) as f, pytest.raises(FetchTimeout):
        f.fetch(http_server.url("/drip"))
    assert time.monotonic() - started < 1.6


def test_silent_server_hits_read_timeout(http_server: LocalHTTPServer) -> None:
    def silent() -> Iterator[bytes]:
        time.sleep(1.5)
        yield b"late"

    http_server.route("/silent", lambda _r: Response(200, {}, silent()))
    policy = FetchPolicy(allow_private_addresses=True, read_timeout=0.3, total_timeout=10)
    with Fetcher(policy) as f, pytest.raises(FetchTimeout):
        f.fetch(http_server.url("/silent"))


def test_huge_body_with_content_length(http_server: LocalHTTPServer) -> None:
    http_server.route("/big", Response(200, {"Content-Length": str(50_000_000)}, iter([b"x"])))
    with capped(1000) as f, pytest.raises(BodyTooLarge, match="Content-Length"):
        f.fetch(http_server.url("/big"))


def test_huge_body_streamed_without_length(http_server: LocalHTTPServer) -> None:
    def endless() -> Iterator[bytes]:
        for _ in range(10_000):
            yield b"x" * 65536

    http_server.route("/endless", lambda _r: Response(200, {}, endless()))
    with capped(1_000_000) as f, pytest.raises(BodyTooLarge):
        f.fetch(http_server.url("/endless"))


def test_gzip_bomb_stops_at_cap(http_server: LocalHTTPServer) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~50 KB on the wire
    http_server.route("/bomb", Response(200, {"Content-Encoding": "gzip"}, bomb))
    with capped(1_000_000) as f, pytest.raises(BodyTooLarge):
        f.fetch(http_server.url("/bomb"))


def test_gzip_and_deflate_bodies_are_decoded(
    http_server: LocalHTTPServer, fetcher: Fetcher
) -> None:
    raw_deflate = zlib.compressobj(wbits=-15)
    http_server.route("/gz", Response(200, {"Content-Encoding": "gzip"}, gzip.compress(RSS)))
    http_server.route("/zl", Response(200, {"Content-Encoding": "deflate"}, zlib.compress(RSS)))
    http_server.route(
        "/raw",
        Response(
            200,
            {"Content-Encoding": "deflate"},
            raw_deflate.compress(RSS) + raw_deflate.flush(),
        ),
    )
    for path in ("/gz", "/zl", "/raw"):
        assert fetcher.fetch(http_server.url(path)).body == RSS


@pytest.mark.parametrize(
    "content_type", ["text/xml", "application/rss+xml; charset=iso-8859-1", None]
)
def test_wrong_or_missing_charset_is_handed_on(
    http_server: LocalHTTPServer, fetcher: Fetcher, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    http_server.route("/feed", Response(200, headers, RSS))
    result = fetcher.fetch(http_server.url("/feed"))
    assert result.content_type == content_type
    assert result.headers.get("content-type") == content_type
    assert result.headers["content-location"] == http_server.url("/feed")
    parsed = feedparser.parse(result.body, response_headers=dict(result.headers))
    assert len(parsed.entries) == 1


def test_html_page_leads_to_its_feed(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    page = b"""<!DOCTYPE html><html><head><title>Site</title>
    <link rel="stylesheet" href="/s.css">
    <link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">
    </head><body>hi</body></html>"""
    http_server.route("/", Response(200, {"Content-Type": "text/html; charset=utf-8"}, page))
    http_server.route("/feed.xml", feed())
    result = fetcher.fetch(http_server.url("/"))
    assert result.body is not None and looks_like_html(result.body, result.content_type)
    links = discover_feed_links(result.body, result.final_url)
    assert links == [http_server.url("/feed.xml")]
    found = fetcher.fetch(links[0])
    assert found.body is not None and not looks_like_html(found.body, found.content_type)


def test_private_address_guard_refuses_loopback(http_server: LocalHTTPServer) -> None:
    http_server.route("/guarded", feed())
    before = len(http_server.requests)
    with Fetcher(FetchPolicy()) as f:
        port = http_server.base_url.rsplit(":", 1)[1]
        for url in (
            http_server.url("/guarded"),
            f"http://localhost:{port}/guarded",
            f"http://[::1]:{port}/guarded",
            f"http://[::ffff:127.0.0.1]:{port}/guarded",
            f"http://2130706433:{port}/guarded",  # 127.0.0.1 as one integer
        ):
            with pytest.raises(BlockedURL, match="non-public"):
                f.fetch(url)
    assert len(http_server.requests) == before  # refused before connecting


def test_private_address_guard_checks_redirect_targets(http_server: LocalHTTPServer) -> None:
    # Model a network where only 127.0.0.1 is "public": a redirect to 127.0.0.2 must be refused.
    http_server.route("/feed", redirect(302, "http://127.0.0.2:1/internal"))
    http_server.route("/to-file", redirect(301, "file:///etc/passwd"))
    with Fetcher(FetchPolicy(), address_allowed=lambda a: a == "127.0.0.1") as f:
        with pytest.raises(BlockedURL, match=r"127\.0\.0\.2"):
            f.fetch(http_server.url("/feed"))
        with pytest.raises(BlockedURL, match="scheme file"):
            f.fetch(http_server.url("/to-file"))


def test_guard_off_allows_loopback(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    http_server.route("/feed", feed())
    assert fetcher.fetch(http_server.url("/feed")).status == 200


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_other_schemes_refused(fetcher: Fetcher) -> None:
    with pytest.raises(BlockedURL):
        fetcher.fetch("ftp://example.com/feed")


def test_file_urls_refused_by_default(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    with pytest.raises(BlockedURL, match="file://"):
        fetcher.fetch(path.as_uri())


def test_file_urls_allowed(tmp_path: Path) -> None:
    path = tmp_path / "feed.rss"
    path.write_bytes(RSS)
    with Fetcher(FetchPolicy(allow_file_urls=True, max_body_bytes=len(RSS))) as f:
        result = f.fetch(path.as_uri())
        assert result.status == 200 and result.body == RSS
        assert result.content_type == "application/rss+xml"
        again = f.fetch(path.as_uri(), previous_body_hash=result.body_hash)
        assert again.not_modified and again.body is None
        path.write_bytes(RSS + b" ")
        with pytest.raises(BodyTooLarge):
            f.fetch(path.as_uri())
        with pytest.raises(FetchError):
            f.fetch((tmp_path / "missing.xml").as_uri())


def test_min_refresh_from_cache_headers(http_server: LocalHTTPServer, fetcher: Fetcher) -> None:
    now = datetime.now(UTC)
    http_server.route(
        "/feed",
        feed(
            **{
                "Cache-Control": "public, max-age=600",
                "Date": format_datetime(now, usegmt=True),
                "Expires": format_datetime(now + timedelta(seconds=1800), usegmt=True),
            }
        ),
    )
    result = fetcher.fetch(http_server.url("/feed"))
    assert result.min_refresh_seconds is not None
    assert 1799 <= result.min_refresh_seconds <= 1800


def test_parse_retry_after_forms() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Mon, 01 Jan 2024 00:01:00 GMT", now=now) == 60
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
