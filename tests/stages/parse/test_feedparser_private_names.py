"""Pins the feedparser private names the lxml fast path imports to the behaviour it relies on.

The fast path reads RSS exactly as feedparser would by calling these; a feedparser upgrade that
renames or changes one must fail here, not silently make the two paths disagree.
"""

from __future__ import annotations

import calendar

from feedparser.datetimes import _parse_date
from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri


def test_cp1252_maps_c1_controls_to_windows_1252_characters() -> None:
    assert isinstance(_cp1252, dict)
    assert "\x93quoted\x94 \x80 \x85".translate(_cp1252) == "\u201cquoted\u201d \u20ac \u2026"
    assert "plain".translate(_cp1252) == "plain"


def test_looks_like_html_is_a_static_check_on_text() -> None:
    assert _FeedParserMixin.looks_like_html("<p>para</p>")
    assert _FeedParserMixin.looks_like_html("a <b>bold</b> word")
    assert not _FeedParserMixin.looks_like_html("AT&T < 5 > 3")
    assert not _FeedParserMixin.looks_like_html("plain text")


def test_urljoin_resolves_and_fixes_extra_slashes() -> None:
    assert _urljoin("https://x.example/a/b", "c") == "https://x.example/a/c"
    assert _urljoin("https://x.example/a/", "/d") == "https://x.example/d"
    assert _urljoin("", "g-1") == "g-1"
    assert _urljoin("", "http:///x.example/a") == "http://x.example/a"
    assert _urljoin("https://x.example/", "at://did:plc:1/p") == "at://did:plc:1/p"


def test_make_safe_absolute_uri_keeps_the_document_url_and_refuses_script() -> None:
    assert make_safe_absolute_uri("", "https://x.example/f") == "https://x.example/f"
    assert make_safe_absolute_uri("https://x.example/f", "/blog/") == "https://x.example/blog/"
    assert make_safe_absolute_uri("https://x.example/f", "javascript:alert(1)") == ""


def test_parse_date_returns_a_utc_struct_time() -> None:
    parsed = _parse_date("Mon, 03 Jun 2024 10:00:00 +0200")
    assert parsed is not None
    assert calendar.timegm(parsed) == calendar.timegm((2024, 6, 3, 8, 0, 0, 0, 0, 0))
    iso = _parse_date("2024-06-03T10:00:00Z")
    assert iso is not None and tuple(iso)[:6] == (2024, 6, 3, 10, 0, 0)
    assert _parse_date("not a date") is None
