"""parse_feed: feedparser bytes in, RawEntry out; dates repaired, bombs defused."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from bench.corpus import generate_corpus
from newsworker.stages.errors import ParseError
from newsworker.stages.normalize.dates import parse_feed_date
from newsworker.stages.parse import parse_feed
from newsworker.stages.parse.fast_rss import NotSimpleRSS, fast_path_allowed, parse_simple_rss
from newsworker.stages.parse.feedparser_path import parse_with_feedparser

URL = "https://news.example.com/feed.xml"


def rss(items: str, channel_extra: str = "", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>News</title><link>https://news.example.com/</link>{channel_extra}"
        f"{items}</channel></rss>"
    ).encode()


def item(pub: str = "Mon, 03 Jun 2024 10:00:00 GMT", extra: str = "") -> str:
    return (
        "<item><title>Story</title><link>/2024/story?utm_source=rss</link><guid>g-1</guid>"
        f"<pubDate>{pub}</pubDate><description>&lt;p&gt;Body&lt;/p&gt;</description>{extra}"
        "</item>"
    )


def first_entry(body: bytes):  # type: ignore[no-untyped-def]
    return parse_feed(body, url=URL, content_type="application/rss+xml").entries[0]


def test_reads_feed_metadata_and_entry() -> None:
    feed = parse_feed(
        rss(item(), "<language>en-gb</language><ttl>30</ttl>"),
        url=URL,
        content_type="application/rss+xml",
    )
    assert feed.title == "News"
    assert feed.language == "en-gb"
    assert feed.ttl_seconds == 1800
    assert feed.warnings == ()
    entry = feed.entries[0]
    assert entry.title == "Story"
    assert entry.link == "https://news.example.com/2024/story?utm_source=rss"
    assert entry.summary_html == "<p>Body</p>"
    assert entry.published_at == datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    assert entry.published_raw == "Mon, 03 Jun 2024 10:00:00 GMT"


def test_sy_update_period_gives_ttl() -> None:
    extra = (
        '<sy:updatePeriod xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">hourly'
        '</sy:updatePeriod><sy:updateFrequency xmlns:sy="http://purl.org/rss/1.0/modules/'
        'syndication/">4</sy:updateFrequency>'
    )
    assert parse_feed(rss(item(), extra), url=URL).ttl_seconds == 900


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mon, 03 Jun 2024 10:00:00 CEST", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),
        ("Mon, 03 Jun 2024 10:00:00 BST", datetime(2024, 6, 3, 9, 0, tzinfo=UTC)),
        ("Mon, 03 Jun 2024 10:00:00 IST", datetime(2024, 6, 3, 4, 30, tzinfo=UTC)),
        ("Mon, 03 Jun 2024 10:00:00 EDT", datetime(2024, 6, 3, 14, 0, tzinfo=UTC)),
        ("Mon, 03 Jun 2024 10:00:00 +0200", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),
        ("2024-06-03T10:00:00+02:00", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),
        # No zone at all: read as UTC (normalize flags it).
        ("Mon, 03 Jun 2024 10:00:00", datetime(2024, 6, 3, 10, 0, tzinfo=UTC)),
        ("2024-13-45T10:00:00Z", None),
        ("Fri, 31 Feb 2024 10:00:00 GMT", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", None),
        ("not a date", None),
    ],
)
def test_dates_are_repaired_to_utc(raw: str, expected: datetime | None) -> None:
    assert first_entry(rss(item(pub=raw))).published_at == expected


def test_updated_does_not_fall_back_to_published() -> None:
    entry = first_entry(rss(item()))
    assert entry.updated_at is None
    assert entry.updated_raw is None


def test_parse_feed_date_uses_timegm_not_local_time() -> None:
    parsed = time.strptime("2024-01-01 00:00:00", "%Y-%m-%d %H:%M:%S")
    assert parse_feed_date(None, parsed) == datetime(2024, 1, 1, tzinfo=UTC)


def test_plain_title_entities_are_decoded_once() -> None:
    body = rss(
        "<item><title>AT&amp;amp;T &lt;b&gt;wins&lt;/b&gt;</title><link>https://x.example/1</link>"
        "</item>"
    )
    assert first_entry(body).title == "AT&T wins"


def test_encoding_override_is_a_warning_not_a_failure() -> None:
    body = rss(item().replace("Story", "Café au lait"))
    feed = parse_feed(body, url=URL, content_type="application/rss+xml; charset=us-ascii")
    assert feed.entries[0].title == "Café au lait"
    assert any("CharacterEncodingOverride" in w for w in feed.warnings)


def test_ill_formed_feed_with_entries_is_usable() -> None:
    body = rss(item()).replace(b"</channel>", b"<broken></channel>")
    feed = parse_feed(body, url=URL, content_type="application/rss+xml")
    assert feed.entries[0].title == "Story"
    assert feed.warnings


def test_empty_but_valid_feed_is_not_an_error() -> None:
    assert parse_feed(rss(""), url=URL).entries == ()


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"<html><body>Not a feed</body></html>", b"\x00\x01\x02garbage"]
)
def test_nothing_usable_is_a_parse_error_naming_the_url(body: bytes) -> None:
    with pytest.raises(ParseError, match=re.escape(URL)):
        parse_feed(body, url=URL, content_type="text/html")


def test_unexpected_feedparser_failure_becomes_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(feedparser, "parse", explode)
    with pytest.raises(ParseError, match="boom") as info:
        parse_feed(rss(item()), url=URL)
    assert isinstance(info.value.__cause__, RuntimeError)


BILLION_LAUGHS = """<!DOCTYPE rss [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
<!ENTITY sneaky "&#38;lol9;">
]>"""


def test_billion_laughs_is_not_expanded() -> None:
    items = (
        "<item><title>A &lol9;</title><link>https://x.example/1</link>"
        "<description>&lol5; &sneaky;</description></item>"
    )
    started = time.perf_counter()
    try:
        feed = parse_feed(rss(items, prolog=BILLION_LAUGHS), url=URL)
    except ParseError:
        return
    assert time.perf_counter() - started < 0.5
    for entry in feed.entries:
        for value in (entry.title, entry.summary_html, entry.content_html):
            assert "lollol" not in (value or "")


def test_external_entities_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for declaration in (
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>',
        f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
    ):
        items = (
            "<item><title>t &xxe;</title><link>https://x.example/1</link>"
            "<description>&xxe;</description></item>"
        )
        try:
            feed = parse_feed(rss(items, prolog=declaration), url=URL)
        except ParseError:
            continue
        dumped = repr(feed)
        assert "TOP-SECRET" not in dumped


# --- The lxml fast path must read exactly what feedparser reads ---------------------------


def _fast_and_feedparser(body: bytes) -> tuple[object, object] | None:
    content_type = "application/rss+xml"
    if not fast_path_allowed(body, content_type):
        return None
    try:
        fast = parse_simple_rss(body, URL)
    except NotSimpleRSS:
        return None
    slow = parse_with_feedparser(body, url=URL, content_type=content_type)
    return (
        (fast.title, fast.link, fast.language, fast.ttl_seconds, fast.entries),
        (slow.title, slow.link, slow.language, slow.ttl_seconds, slow.entries),
    )


def test_fast_path_matches_feedparser_on_the_corpus(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "feedparser-tests"
    if not root.is_dir():
        pytest.skip(f"{root} is missing")
    compared = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        pair = _fast_and_feedparser(path.read_bytes())
        if pair is not None:
            assert pair[0] == pair[1], path.relative_to(root)
            compared += 1
    assert compared > 200


def test_fast_path_matches_feedparser_on_the_bench_corpus() -> None:
    bodies = generate_corpus(1000, seed=5)
    for body in bodies:
        pair = _fast_and_feedparser(body)
        assert pair is not None, "bench feeds are plain RSS 2.0 and should take the fast path"
        assert pair[0] == pair[1]


@pytest.mark.parametrize(
    ("content_type", "extra"),
    [
        ("text/html", ""),
        ("application/rss+xml; charset=iso-8859-1", ""),
        (
            "application/rss+xml",
            '<media:title xmlns:media="http://search.yahoo.com/mrss/">M</media:title>',
        ),
        ("application/rss+xml", "<author>a@example.com (Ann)</author>"),
    ],
)
def test_anything_unusual_goes_through_feedparser(content_type: str, extra: str) -> None:
    feed = parse_feed(rss(item(extra=extra)), url=URL, content_type=content_type)
    assert feed.entries[0].title == "Story"
    assert feed.entries[0].published_at == datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
