"""Feed discovery in HTML pages."""

from __future__ import annotations

import time

import pytest

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


def test_a_remote_page_leads_only_to_http_feeds() -> None:
    html = """<html><head>
    <link rel="alternate" type="application/rss+xml" href="file:///etc/passwd">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    <link rel="alternate" type="application/rss+xml" href="data:text/xml,<rss/>">
    <link rel="alternate" type="application/rss+xml" href="ftp://files.example/feed">
    <link rel="alternate" type="application/atom+xml" href="https://ok.example/atom">
    </head></html>"""
    assert discover_feed_links(html, "https://site.example/") == ["https://ok.example/atom"]
    assert discover_feed_links(html, "http://site.example/") == ["https://ok.example/atom"]


def test_a_remote_base_href_cannot_lead_to_a_file() -> None:
    html = '<html><head><base href="file:///etc/"><link rel="alternate" '
    html += 'type="application/rss+xml" href="passwd"></head></html>'
    assert discover_feed_links(html, "https://site.example/") == []


def test_a_local_page_may_lead_to_local_and_remote_feeds() -> None:
    html = '<html><head><link rel="alternate" type="application/rss+xml" href="feed.xml">'
    html += '<link rel="alternate" type="application/rss+xml" href="https://x.example/f">'
    html += '<link rel="alternate" type="application/rss+xml" href="javascript:x()"></head></html>'
    assert discover_feed_links(html, "file:///srv/site/index.html") == [
        "file:///srv/site/feed.xml",
        "https://x.example/f",
    ]


def test_attributes_quoted_unquoted_and_escaped() -> None:
    html = "<HTML><HEAD><LINK REL=alternate TYPE=application/rss+xml HREF=/a?x=1&amp;y=2>"
    html += "<link type='application/atom+xml' rel='alternate' href='/b'/>"
    html += '<link\nrel="alternate"\ttype="application/rss+xml"\nhref="/c" >'
    html += "<!-- <link rel=alternate type=application/rss+xml href=/commented> -->"
    html += "<linker rel=alternate type=application/rss+xml href=/not-a-link>"
    assert discover_feed_links(html, "https://s.example/") == [
        "https://s.example/a?x=1&y=2",
        "https://s.example/b",
        "https://s.example/c",
    ]


LINK = '<link rel="alternate" type="application/rss+xml" href="/feed">'
TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize(
    "page",
    [
        pytest.param("<html><head>" + LINK + "</head><body>" + "<div>" * 200_000, id="deep"),
        pytest.param("<div>" * (TEN_MB // 5) + LINK, id="deep-10mb"),
        pytest.param("<link rel=alternate " * (TEN_MB // 20) + LINK, id="unclosed-tags"),
        pytest.param("<!--" * (TEN_MB // 4) + LINK, id="unclosed-comments"),
        pytest.param(LINK * (TEN_MB // len(LINK)), id="a-million-links"),
        pytest.param("<link " + "a=b " * (TEN_MB // 4) + ">" + LINK, id="many-attributes"),
    ],
)
def test_hostile_pages_cost_well_under_a_second(page: str) -> None:
    started = time.process_time()
    links = discover_feed_links(page, "https://s.example/")
    assert time.process_time() - started < 0.5
    assert links in ([], ["https://s.example/feed"])
