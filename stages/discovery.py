"""Pure feed discovery: find feed links in an HTML page.

The page is scanned for its <link> and <base> tags, never built into a tree: a hostile page
200,000 elements deep costs a tree builder minutes, and this scan stays linear in the page size.
"""

from __future__ import annotations

import html as html_text
import re
from itertools import islice
from urllib.parse import urljoin, urlsplit

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
_HTTP = frozenset({"http", "https"})
# A tag's attributes end at the next < or >, so each scan stops there: linear in the page. Tags
# and their attributes are bounded so that a page of a million <link>s costs no more than this.
_TAG = re.compile(r"<(link|base)(?=[\s/>])([^<>]{0,8192})>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>][^\s>]*)))?""")
_MAX_TAGS = 1000


def discover_feed_links(html: bytes | str, base_url: str) -> list[str]:
    """Absolute URLs of <link rel="alternate"> feeds in the page, in document order.

    A remote (http/https) page leads only to http(s) feeds; a local file page also to files.
    """
    page = _without_comments(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    base = base_url
    links: list[str] = []
    seen_base = False
    tags = [
        (match.group(1).lower(), _attributes(match.group(2)))
        for match in islice(_TAG.finditer(page), _MAX_TAGS)
    ]
    for name, attributes in tags:
        if name == "base" and not seen_base and "href" in attributes:
            base = urljoin(base_url, attributes["href"].strip())
            seen_base = True
    allowed = _HTTP | {"file"} if _scheme(base_url) == "file" else _HTTP
    for name, attributes in tags:
        rel = attributes.get("rel", "").lower().split()
        kind = attributes.get("type", "").lower().split(";")[0].strip()
        href = attributes.get("href", "").strip()
        if name != "link" or "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        try:
            url = urljoin(base, href)
        except ValueError:  # a malformed href (an unclosed IPv6 bracket) leads nowhere
            continue
        if _scheme(url) in allowed and url not in links:
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


def _attributes(text: str) -> dict[str, str]:
    """A tag's attributes, names lower-cased, values unescaped; the first of a name wins."""
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        name = match.group(1).lower()
        if name not in found:
            value = next((v for v in match.group(2, 3, 4) if v is not None), "")
            found[name] = html_text.unescape(value)
    return found


def _without_comments(page: str) -> str:
    """The page with <!-- ... --> comments cut (an unclosed one hides the rest, as in HTML)."""
    parts: list[str] = []
    position = 0
    while (start := page.find("<!--", position)) >= 0:
        parts.append(page[position:start])
        end = page.find("-->", start + 4)
        if end < 0:
            return "".join(parts)
        position = end + 3
    parts.append(page[position:])
    return "".join(parts)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""
