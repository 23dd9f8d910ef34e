"""Hostile servers against the Fetcher: whatever comes back, only an IngestError leaves fetch().

Each case is served byte for byte by a raw TCP server on 127.0.0.1, so bad status lines, bad
header bytes and bad Locations reach the fetcher exactly as a hostile server would send them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsworker.stages.errors import (
    BadURL,
    BlockedURL,
    FetchError,
    HTTPStatusError,
    IngestError,
    TooManyRedirects,
)
from newsworker.stages.fetch import Fetcher, FetchPolicy
from tests.support.raw_http import RawHTTPServer, redirect

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>ok</title></channel></rss>'
GOOD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n"
    + f"Content-Length: {len(RSS)}\r\n\r\n".encode()
    + RSS
)
POLICY = FetchPolicy(allow_private_addresses=True, total_timeout=5, read_timeout=2)

# Location header -> (error type, text the message must show)
BAD_LOCATIONS: dict[str, tuple[bytes, type[FetchError], str]] = {
    "mailto": (b"mailto:editor@example.com", BlockedURL, "mailto:editor@example.com"),
    "data": (b"data:text/xml,<rss/>", BlockedURL, "data:text/xml"),
    "javascript": (b"javascript:alert(1)", BlockedURL, "javascript:alert(1)"),
    "file": (b"file:///etc/passwd", BlockedURL, "file:///etc/passwd"),
    "unclosed_ipv6": (b"http://[zz", BadURL, "http://[zz"),
    "empty": (b"", BadURL, "empty Location"),
    "blank": (b"   ", BadURL, "empty Location"),
    "space_in_host": (b"http://exa mple.com/feed", BadURL, "exa mple.com"),
    "control_char": (b"http://example.com/\x01feed", BadURL, "control character"),
    "port_too_big": (b"http://127.0.0.1:99999/feed", BadURL, "99999"),
    "port_negative": (b"http://127.0.0.1:-1/feed", BadURL, "-1"),
    "port_zero": (b"http://127.0.0.1:0/feed", BadURL, "port 0"),
    "port_letters": (b"http://127.0.0.1:8o/feed", BadURL, "8o"),
    "idna_bad_punycode": (b"http://xn--a.example/", BadURL, "xn--a.example"),
    "idna_bad_label": ("http://xn--zz\u2603.example/".encode(), BadURL, "xn--zz"),
    "label_too_long": (b"http://" + b"a" * 70 + b".example/", BadURL, "invalid host name"),
    "empty_label": (b"http://a..example/", BadURL, "invalid host name"),
    "no_host": (b"http://:80/feed", BadURL, "no host"),
    "huge": (b"http://a.example/" + b"x" * 70_000, BadURL, "characters)"),
}

BAD_RESPONSES: dict[str, bytes] = {
    "bad_status_line": b"HTTP/1.1 abc OK\r\n\r\n",
    "garbage_status": b"\x00\x01\x02 garbage\r\n\r\n",
    "bad_header_bytes": b"HTTP/1.1 200 OK\r\nX\x00Bad: y\r\nContent-Length: 2\r\n\r\nok",
    "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "bad_content_length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok",
    "two_content_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "short_body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok",
    "switching_protocols": b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    "no_status_line": b"just a body",
    "header_too_long": b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000 + b"\r\n\r\n",
    "corrupt_gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd",
    "unknown_encoding": b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: 2\r\n\r\nab",
    "redirect_without_location": b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n",
}

BAD_FEED_URLS: dict[str, tuple[str, type[FetchError]]] = {
    "unclosed_ipv6": ("http://[zz", BadURL),
    "space_in_host": ("http://exa mple.com/feed", BadURL),
    "port_too_big": ("http://127.0.0.1:99999/feed", BadURL),
    "port_letters": ("http://[::1]:80x/feed", BadURL),
    "no_host": ("http:///feed", BadURL),
    "nul": ("http://\x00/feed", BadURL),
    "idna": ("http://xn--a.example/feed", BadURL),
    "label_too_long": ("http://" + "a" * 300 + ".com/feed", BadURL),
    "no_scheme": ("example.com/feed", BlockedURL),
    "mailto": ("mailto:x@example.com", BlockedURL),
}


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawHTTPServer]:
    server = RawHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(POLICY) as f:
        yield f


@pytest.mark.parametrize("case", BAD_LOCATIONS)
def test_a_bad_redirect_location_is_a_permanent_error_naming_feed_and_location(
    case: str, raw_server: RawHTTPServer, fetcher: Fetcher
) -> None:
    location, error_type, shown = BAD_LOCATIONS[case]
    url = raw_server.route(f"/location/{case}", redirect(location))
    with pytest.raises(error_type) as caught:
        fetcher.fetch(url)
    message = str(caught.value)
    assert url in message and shown in message, message
    assert not caught.value.retryable
    assert len(message) < 1000


@pytest.mark.parametrize("case", BAD_RESPONSES)
def test_a_broken_response_is_a_fetch_error_naming_the_feed(
    case: str, raw_server: RawHTTPServer, fetcher: Fetcher
) -> None:
    url = raw_server.route(f"/response/{case}", BAD_RESPONSES[case])
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert url in str(caught.value)


@pytest.mark.parametrize("case", BAD_FEED_URLS)
def test_a_bad_stored_feed_url_is_a_permanent_error(case: str, fetcher: Fetcher) -> None:
    url, error_type = BAD_FEED_URLS[case]
    with pytest.raises(error_type) as caught:
        fetcher.fetch(url)
    assert not caught.value.retryable
    assert url in str(caught.value)


def test_a_bad_url_is_refused_by_probe_too(fetcher: Fetcher) -> None:
    with pytest.raises(BadURL):
        fetcher.probe("http://[zz")


def test_odd_but_valid_locations_are_followed(raw_server: RawHTTPServer, fetcher: Fetcher) -> None:
    target = raw_server.route("/odd/target", GOOD)
    relative = raw_server.route("/odd/relative", redirect(b"  /odd/target  "))
    assert fetcher.fetch(relative).final_url == target
    # A space in the path is percent-encoded on the way, as browsers do.
    spaced = raw_server.route("/odd/spaced", redirect(b"/odd/a b"))
    with pytest.raises(HTTPStatusError):  # 404 from the raw server: the request was made
        fetcher.fetch(spaced)
    assert raw_server.hits.get("/odd/a%20b") == 1
    looping = raw_server.route("/odd/loop", redirect(b"/odd/loop"))
    with pytest.raises(TooManyRedirects):
        fetcher.fetch(looping)


def test_the_fetcher_still_works_after_every_hostile_case(
    raw_server: RawHTTPServer, fetcher: Fetcher
) -> None:
    for case, raw in BAD_RESPONSES.items():
        with pytest.raises(IngestError):
            fetcher.fetch(raw_server.route(f"/again/{case}", raw))
    for case, (location, _, _) in BAD_LOCATIONS.items():
        with pytest.raises(IngestError):
            fetcher.fetch(raw_server.route(f"/again-location/{case}", redirect(location)))
    result = fetcher.fetch(raw_server.route("/again/good", GOOD))
    assert result.status == 200 and result.body == RSS


def test_a_nul_byte_in_a_file_url_is_a_bad_url() -> None:
    with Fetcher(FetchPolicy(allow_file_urls=True)) as fetcher, pytest.raises(BadURL):
        fetcher.fetch("file:///tmp/feed%00.xml")


def test_a_redirect_to_a_file_is_refused_even_when_file_feeds_are_allowed(
    raw_server: RawHTTPServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.rss"
    secret.write_bytes(RSS)
    url = raw_server.route("/to-file", redirect(secret.as_uri().encode()))
    policy = FetchPolicy(allow_private_addresses=True, allow_file_urls=True, total_timeout=5)
    with Fetcher(policy) as fetcher:
        assert fetcher.fetch(secret.as_uri()).body == RSS  # the file itself may be a feed
        with pytest.raises(BlockedURL, match="file://"):
            fetcher.fetch(url)
