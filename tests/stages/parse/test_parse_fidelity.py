"""Parse and normalize keep what the publisher wrote: dates, titles, authors, ids and URLs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsworker.stages.normalize import NormalizePolicy, normalize_entry
from newsworker.stages.parse import parse_feed
from newsworker.stages.parse.fast_rss import fast_path_allowed, parse_simple_rss
from newsworker.stages.parse.feedparser_path import parse_with_feedparser
from newsworker.stages.records import Article, ParsedFeed, RawEntry
from tests.support.paths import FIXTURES

FEEDS = FIXTURES / "feeds"
URL = "https://feeds.example.com/feed.xml"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parsed(name: str, url: str = URL, content_type: str = "application/xml") -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), url=url, content_type=content_type)


def article(entry: RawEntry, url: str = URL) -> Article:
    return normalize_entry(
        entry, feed_url=url, feed_language=None, discovered_at=NOW, policy=NormalizePolicy()
    )


# --- 13: the feed's own date --------------------------------------------------------------


def test_rdf_dc_date_is_the_published_date() -> None:
    dated, undated = parsed("rdf_dc_date.rdf").entries
    assert dated.published_at == datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    assert dated.published_raw == "2024-06-03T10:00:00+02:00"
    first = article(dated)
    assert first.published_at == datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    assert "published_inferred" not in first.flags
    second = article(undated)
    assert second.published_at == NOW
    assert "published_inferred" in second.flags


def test_atom_entry_with_only_updated_is_dated_by_it() -> None:
    entry = parsed("atom_updated_only.atom").entries[0]
    assert entry.published_at == datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    assert "published_inferred" not in article(entry).flags


def test_rss_dc_date_on_the_fast_path_matches_feedparser() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>'
        b"<item><title>A</title><link>/a</link><dc:date>2024-06-03T10:00:00Z</dc:date>"
        b"<dc:creator>Ann</dc:creator><dc:creator>Bob</dc:creator></item></channel></rss>"
    )
    assert fast_path_allowed(body, "application/rss+xml")
    fast = parse_simple_rss(body, URL)
    slow = parse_with_feedparser(body, url=URL, content_type="application/rss+xml")
    assert fast.entries == slow.entries
    assert fast.link == slow.link
    assert fast.entries[0].published_at == datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    assert fast.entries[0].authors == ("Ann", "Bob")
    assert fast.entries[0].link == "https://feeds.example.com/a"


# --- 14: words of a text field are never rewritten ----------------------------------------


@pytest.mark.parametrize("name", ["rdf_dc_date.rdf", "atom_updated_only.atom"])
def test_title_words_are_kept_as_written(name: str) -> None:
    title = article(parsed(name).entries[0]).title
    assert title.startswith("JavaScript: The Good Parts")


def test_plain_text_mentioning_script_schemes_keeps_its_words() -> None:
    entry = RawEntry(
        guid="g",
        link="https://x.example/1",
        title="Why javascript: URLs and CSS expression( ) are dead",
        summary_html=None,
        content_html="<p>Never write javascript:void(0) in a link.</p>",
    )
    result = article(entry)
    assert result.title == "Why javascript: URLs and CSS expression( ) are dead"
    assert "javascript:void(0)" in result.text


# --- 15: authors ----------------------------------------------------------------------------


def test_every_dc_creator_in_order_first_is_author() -> None:
    entry = parsed("rdf_dc_date.rdf").entries[0]
    assert entry.authors == ("Ann Author", "Bob Writer")
    result = article(entry)
    assert result.author == "Ann Author"
    assert result.authors == ("Ann Author", "Bob Writer")


def test_atom_authors_are_names_without_e_mail() -> None:
    entry = parsed("atom_updated_only.atom").entries[0]
    assert entry.author == "Jane Doe"
    assert entry.authors == ("Jane Doe", "John Roe")


def test_rss_author_with_e_mail_gives_the_name() -> None:
    two, email, empty_creator = parsed("rss_authors.xml").entries
    assert two.authors == ("First Person", "Second Person")
    assert email.author == "Jane Doe"
    assert email.authors == ("Jane Doe",)
    # An empty <dc:creator /> does not wipe out the filled <author>.
    assert empty_creator.author == "John Roe"


def test_author_control_characters_are_stripped() -> None:
    entry = RawEntry(
        guid="g",
        link="https://x.example/1",
        title="T",
        summary_html=None,
        content_html="<p>x</p>",
        author="Ann \x1b[31mRed\x1b[0m\x07",
        authors=("Ann \x1b[31mRed\x1b[0m\x07", "Bob\x00"),
    )
    result = article(entry)
    assert result.author == "Ann Red"
    assert result.authors == ("Ann Red", "Bob")


# --- 16 and 17: ids as written, links resolved, other schemes kept ------------------------


def test_atom_id_is_kept_as_written_whatever_url_served_it() -> None:
    one = parsed("atom_updated_only.atom", url="https://a.example/feed").entries[0]
    two = parsed("atom_updated_only.atom", url="https://b.example/x/feed").entries[0]
    assert one.guid == two.guid == "/posts/42"
    assert one.link == "https://a.example/posts/42.html"
    assert two.link == "https://b.example/posts/42.html"


def test_rss_guid_is_kept_as_written() -> None:
    entry = parsed("rss_authors.xml").entries[1]
    assert entry.guid == "b-2"
    assert entry.link == "https://www.example.com/b"


def test_link_in_another_safe_scheme_is_kept() -> None:
    entry = parsed("atom_updated_only.atom").entries[1]
    result = article(entry)
    assert result.url == "at://did:plc:abc123/app.bsky.feed.post/3k"
    assert result.canonical_url is None


def test_unsafe_link_falls_back_to_a_web_id() -> None:
    entry = parsed("atom_updated_only.atom").entries[2]
    result = article(entry)
    assert result.url == "https://blog.example.net/posts/43"
    assert result.canonical_url == "https://blog.example.net/posts/43"


# --- 9b and 8a: no credentials in URLs, no control characters in text ----------------------


def test_credentials_are_removed_from_story_urls() -> None:
    entry = parsed("rss_authors.xml").entries[2]
    assert entry.link == "https://user:secret@www.example.com/c"
    result = article(entry)
    assert result.url == "https://www.example.com/c"
    assert result.canonical_url == "https://www.example.com/c"


def test_escape_sequences_and_controls_are_stripped_from_stored_text() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        b"<title>Feed \x1b[1mbold\x1b[0m</title><item><title>Red \x1b[31mAlert\x1b[0m \x07</title>"
        b"<link>https://x.example/1</link><description>plain\x0b text \x1b]0;t\x07ok</description>"
        b"</item></channel></rss>"
    )
    feed = parse_feed(body, url=URL, content_type="application/rss+xml")
    assert feed.title == "Feed bold"
    result = article(feed.entries[0])
    assert result.title == "Red Alert"
    assert result.text == "plain text ok"
