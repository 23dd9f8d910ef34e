"""JSON Feed 1.0 and 1.1 parse into the same RawEntry records as RSS and Atom."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from newsworker.stages.errors import ParseError
from newsworker.stages.normalize import NormalizePolicy, normalize_entry
from newsworker.stages.parse import parse_feed
from tests.support.paths import FIXTURES

FEEDS = FIXTURES / "feeds"
URL = "https://json.example.com/feed.json"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def body(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


@pytest.mark.parametrize("content_type", ["application/feed+json", "application/json", None])
def test_json_feed_1_1_items_map_onto_raw_entries(content_type: str | None) -> None:
    feed = parse_feed(body("json_feed_1_1.json"), url=URL, content_type=content_type)
    assert feed.title == "Example JSON Feed"
    assert feed.link == "https://json.example.com/"
    assert feed.language == "en-GB"
    first, second = feed.entries
    assert first.guid == "2024/06/rates"
    assert first.link == "https://json.example.com/2024/06/rates"
    assert first.title == "JavaScript: The Good Parts"
    assert first.published_at == datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    assert first.updated_at == datetime(2024, 6, 4, 10, 0, tzinfo=UTC)
    assert first.authors == ("Ann One", "Bob Two")
    assert first.author == "Ann One"
    assert first.language == "en"
    assert second.guid == "17"
    assert second.link == "https://elsewhere.example.org/story"
    assert second.published_at == datetime(2024, 6, 5, 9, 30, tzinfo=UTC)
    assert second.authors == ("Feed Owner",)


def test_json_feed_goes_through_the_same_normalize_path() -> None:
    feed = parse_feed(body("json_feed_1_1.json"), url=URL, content_type="application/feed+json")
    policy = NormalizePolicy()
    first, second = (
        normalize_entry(
            e, feed_url=URL, feed_language=feed.language, discovered_at=NOW, policy=policy
        )
        for e in feed.entries
    )
    assert "script" not in first.content_html and "onclick" not in first.content_html
    assert first.text == "Rates held."
    assert first.summary == "Rates held & steady"
    assert first.title == "JavaScript: The Good Parts"
    # Line breaks survive; tag-like text is dropped as in every other text field.
    assert second.text == "First line\nsecond line\n\nNext paragraph not markup"
    assert "published_inferred" not in second.flags


def test_json_feed_1_0_single_author() -> None:
    feed = parse_feed(body("json_feed_1_0.json"), url=URL, content_type="application/json")
    assert feed.entries[0].authors == ("Single Author",)
    assert feed.entries[0].content_html == "Body"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
        b"{" * 5000 + b"}" * 5000,
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 100_000,
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "no items"}',
        b'{"not": "a feed"}',
    ],
)
def test_malformed_or_too_deep_json_is_a_parse_error_naming_the_url(raw: bytes) -> None:
    with pytest.raises(ParseError, match=re.escape(URL)):
        parse_feed(raw, url=URL, content_type="application/feed+json")


def test_xml_served_as_json_feed_type_is_not_read_as_json() -> None:
    xml = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
        b"<title>A</title><link>https://x.example/a</link></item></channel></rss>"
    )
    feed = parse_feed(xml, url=URL, content_type="application/json")
    assert feed.entries[0].title == "A"
