"""Deeply nested input is parsed and normalized in bounded CPU time, and says so."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from newsworker.stages.errors import ParseError
from newsworker.stages.normalize import NormalizePolicy, normalize_entry
from newsworker.stages.normalize.nesting import MAX_HTML_DEPTH, flatten_deep_html
from newsworker.stages.parse import parse_feed
from newsworker.stages.records import RawEntry

URL = "https://deep.example.com/feed.atom"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Generous for a slow CI machine: each case takes well under a second here.
CPU_SECONDS = 3.0


def atom_xhtml(depth: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>T</title><id>urn:feed</id><entry><id>urn:1</id><title>t</title>"
        '<updated>2024-06-03T10:00:00Z</updated><content type="xhtml">'
        '<div xmlns="http://www.w3.org/1999/xhtml">'
        + "<div>" * depth
        + "x"
        + "</div>" * depth
        + "</div></content></entry></feed>"
    ).encode()


def test_50000_deep_atom_xhtml_is_refused_quickly() -> None:
    body = atom_xhtml(50_000)
    assert len(body) > 500_000
    started = time.process_time()
    with pytest.raises(ParseError, match=re.escape(URL)) as info:
        parse_feed(body, url=URL, content_type="application/atom+xml")
    assert time.process_time() - started < CPU_SECONDS
    assert "nested deeper" in str(info.value)


def test_modest_nesting_still_parses() -> None:
    feed = parse_feed(atom_xhtml(100), url=URL, content_type="application/atom+xml")
    assert feed.entries[0].content_html is not None


@pytest.mark.parametrize("pattern", ["<div>", "<blockquote>", "<li><ul>", "<b><p>", "<section>"])
def test_100000_nested_elements_normalize_quickly(pattern: str) -> None:
    entry = RawEntry(
        guid="g",
        link="https://deep.example.com/1",
        title="Deep",
        summary_html=None,
        content_html=pattern * 100_000 + "deep text",
    )
    started = time.process_time()
    article = normalize_entry(
        entry, feed_url=URL, feed_language=None, discovered_at=NOW, policy=NormalizePolicy()
    )
    assert time.process_time() - started < CPU_SECONDS
    assert "html_flattened" in article.flags


def test_flattening_keeps_text_and_shallow_markup() -> None:
    shallow = "<div><p>one</p><ul><li>two</li></ul></div>" * 300
    assert flatten_deep_html(shallow) == (shallow, False)
    deep = "<div>" * (MAX_HTML_DEPTH + 10) + "text" + "</div>" * (MAX_HTML_DEPTH + 10)
    flattened, changed = flatten_deep_html(deep)
    assert changed
    assert flattened == "<div>" * MAX_HTML_DEPTH + "text" + "</div>" * MAX_HTML_DEPTH
