"""OPML reading (safe, nested) and writing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from newsworker.stages.errors import ParseError
from newsworker.stages.opml import OpmlFeed, parse_opml, write_opml

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="News">
    <outline text="A &amp; B" type="rss" xmlUrl="https://a.example/feed"/>
    <outline text="Tech"><outline title="Deep" xmlurl="https://deep.example/rss"/></outline>
  </outline>
  <outline text="dup" xmlUrl="https://a.example/feed"/>
  <outline text="no url"/>
</body></opml>"""


def test_parse_nested_outlines() -> None:
    assert parse_opml(OPML) == [
        OpmlFeed("https://a.example/feed", "A & B"),
        OpmlFeed("https://deep.example/rss", "Deep"),
    ]


def test_round_trip() -> None:
    feeds = [("https://a.example/feed?x=1&y=2", 'Quote " & <tag>'), ("https://b.example/", None)]
    assert parse_opml(write_opml(feeds).encode()) == [
        OpmlFeed("https://a.example/feed?x=1&y=2", 'Quote " & <tag>'),
        OpmlFeed("https://b.example/", "https://b.example/"),
    ]


@pytest.mark.parametrize(
    "doc",
    [
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<opml><body><outline xmlUrl="&x;"/></body></opml>',
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><opml><body>'
        b'<outline xmlUrl="&b;"/></body></opml>',
        b"<opml><body><outline",
    ],
)
def test_refuses_entities_and_broken_xml(doc: bytes) -> None:
    with pytest.raises(ParseError):
        parse_opml(doc)


def test_written_opml_parses_whatever_the_titles_hold() -> None:
    hostile = "[Live] \x1b[31mred\x07 \x00\x0b\x0c\x7f\x85 ]]> & <b> \ud800 \ufffe tab\tnew\nline"
    document = write_opml([("https://a.example/feed?x=1&y=2", hostile)], title=hostile)
    root = ET.fromstring(document.encode("utf-8"))  # strict: any invalid character fails here
    outline = root.find("./body/outline")
    assert outline is not None
    assert outline.get("title") == "[Live] [31mred  ]]> & <b>   tab\tnew\nline"
    assert parse_opml(document.encode("utf-8"))[0].url == "https://a.example/feed?x=1&y=2"
