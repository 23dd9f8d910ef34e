"""Feed discovery in HTML pages."""

from __future__ import annotations

from newsworker.stages.discovery import discover_feed_links, looks_like_html

PAGE = """<!doctype html><html><head>
<link rel="alternate" type="application/rss+xml" href="/rss.xml">
<link rel="alternate stylesheet" type="text/css" href="/alt.css">
<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="https://cdn.example/atom">
<link rel="alternate" type="application/feed+json" href="feed.json">
<link rel="alternate" type="text/html" hreflang="de" href="/de/">
<link rel="alternate" type="application/rss+xml" href="/rss.xml">
</head><body></body></html>"""


def test_discovers_feed_links_in_order_and_absolute() -> None:
    assert discover_feed_links(PAGE, "https://site.example/blog/post") == [
        "https://site.example/rss.xml",
        "https://cdn.example/atom",
        "https://site.example/blog/feed.json",
    ]


def test_base_href_and_bytes_input() -> None:
    html = b'<html><head><base href="https://other.example/x/">'
    html += b'<link rel="alternate" type="application/atom+xml" href="a.xml"></head></html>'
    assert discover_feed_links(html, "https://site.example/") == ["https://other.example/x/a.xml"]


def test_no_links() -> None:
    assert discover_feed_links("<html><body>nothing</body></html>", "https://x.example/") == []


def test_looks_like_html() -> None:
    assert looks_like_html(PAGE.encode(), "text/html")
    assert looks_like_html(b"<html><body>x</body></html>", None)
    assert not looks_like_html(b'<?xml version="1.0"?><rss version="2.0"></rss>', "text/html")
    assert not looks_like_html(b"\xef\xbb\xbf<feed xmlns='http://www.w3.org/2005/Atom'/>", None)
    assert not looks_like_html(b'{"version": "https://jsonfeed.org/version/1.1"}', "text/html")
