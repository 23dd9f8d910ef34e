"""Pure feed discovery: find feed links in an HTML page."""

from __future__ import annotations

from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
    }
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<?xml")


def discover_feed_links(html: bytes | str, base_url: str) -> list[str]:
    """Absolute URLs of <link rel="alternate"> feeds in the page, in document order."""
    tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    base = base_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = urljoin(base_url, (base_node.attributes.get("href") or "").strip())
    links: list[str] = []
    for node in tree.css("link[href]"):
        rel = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").lower().split(";")[0].strip()
        href = (node.attributes.get("href") or "").strip()
        if "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if url not in links:
            links.append(url)
    return links


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """True when the body is an HTML page rather than a feed (sniffed; servers mislabel feeds)."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_FEED_ROOTS) or head.startswith(b"{"):
        return b"<html" in head[:512] and b"<rss" not in head and b"<feed" not in head
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]:
        return True
    media = (content_type or "").lower().split(";")[0].strip()
    return media in _HTML_TYPES
