"""The lxml fast path: plain, well-formed RSS 2.0 read exactly as feedparser would read it.

Anything it is not sure to read identically raises NotSimpleRSS and goes to feedparser.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from feedparser.datetimes import _parse_date as feedparser_parse_date
from feedparser.mixin import _cp1252 as FEEDPARSER_CP1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin as feedparser_urljoin
from lxml import etree

from newsworker.stages.parse.entries import (
    document_base,
    feed_link,
    feed_title,
    first_str,
    raw_entry,
    ttl_seconds,
)
from newsworker.stages.records import ParsedFeed


class NotSimpleRSS(Exception):
    """The body needs feedparser: the fast path only takes plain, well-formed RSS 2.0."""


_CONTENT_NS = "{http://purl.org/rss/1.0/modules/content/}"
_DC_NS = "{http://purl.org/dc/elements/1.1/}"
_SY_NS = "{http://purl.org/rss/1.0/modules/syndication/}"
_ATOM_NS = "{http://www.w3.org/2005/Atom}"
_FAST_MEDIA_TYPES = frozenset({"application/rss+xml", "application/xml", "text/xml"})
_FAST_ITEM_TEXT = frozenset(
    {"title", "link", "description", "guid", "pubDate", "comments", "category"}
    | {f"{_CONTENT_NS}encoded", f"{_DC_NS}creator", f"{_DC_NS}date"}
)
_FAST_ITEM_REPEATABLE = frozenset({"category", f"{_DC_NS}creator"})
_FAST_ITEM_ATTRIBUTES = {"guid": {"isPermaLink"}, "category": {"domain"}}
_FAST_CHANNEL_IGNORED = frozenset(
    {"description", "pubDate", "lastBuildDate", "generator", "copyright", "managingEditor"}
    | {"webMaster", "category", "docs", "image", "cloud", "skipHours", "skipDays", "rating"}
    | {f"{_SY_NS}updateBase", f"{_ATOM_NS}link"}
)
_FAST_CHANNEL_TEXT = frozenset(
    {"title", "link", "language", "ttl", f"{_SY_NS}updatePeriod", f"{_SY_NS}updateFrequency"}
)
_C1_CONTROL = re.compile("[\x80-\x9f]")
_LINK_ENTITY_LEFTOVER = re.compile(r"&([A-Za-z0-9_]+);")
# feedparser is given no document URL (so ids stay as written): its base is empty.
_FEEDPARSER_BASE = ""


def fast_path_allowed(body: bytes, content_type: str | None) -> bool:
    """Only UTF-8 RSS served as XML, without a DOCTYPE, base or language attributes."""
    if not content_type:
        return False
    media_type, _, params = content_type.partition(";")
    charset = params.strip().lower().replace(" ", "").removeprefix("charset=").strip("\"'")
    if media_type.strip().lower() not in _FAST_MEDIA_TYPES or charset not in ("", "utf-8"):
        return False
    if media_type.strip().lower() == "text/xml" and charset != "utf-8":
        return False  # RFC 3023: text/xml without a charset is us-ascii
    head = body[:512]
    if b"<rss" not in head or b"<!DOCTYPE" in head or b"xml:base" in body or b"xml:lang" in body:
        return False
    declared = re.search(rb"encoding=[\"']([A-Za-z0-9_-]+)", head[:100])
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")


def _feedparser_repairs(output: str) -> str:
    # feedparser repairs UTF-8 that was decoded as Latin-1 upstream, then maps C1 controls
    # to their Windows-1252 characters; translate() is slow, so only when one is present.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        output = output.encode("iso-8859-1").decode("utf-8")
    if _C1_CONTROL.search(output):
        output = output.translate(FEEDPARSER_CP1252)
    return output


def _feedparser_text(element: Any, base: str | None = None, *, link: bool = False) -> str:
    """Do to an element's text what feedparser's pop() does with sanitizing switched off."""
    if len(element) or (element.attrib and element.tag not in _FAST_ITEM_ATTRIBUTES):
        raise NotSimpleRSS(element.tag)
    output = (element.text or "").strip()
    if base is not None and output:
        output = feedparser_urljoin(base, output)
    if not output.isascii():
        output = _feedparser_repairs(output)
    if link:
        output = _LINK_ENTITY_LEFTOVER.sub(r"&\g<1>", output.replace("&amp;", "&"))
    return output


def _text_detail(value: str, default_type: str) -> dict[str, Any]:
    kind = default_type
    if kind == "text/plain" and _FeedParserMixin.looks_like_html(value):
        kind = "text/html"
    return {"type": kind, "language": None, "base": _FEEDPARSER_BASE, "value": value}


def _fast_item_field(entry: dict[str, Any], tag: str, child: Any) -> None:
    """Store one item child the way feedparser's handlers would."""
    if tag == "title":
        entry["title"] = _feedparser_text(child)
        entry["title_detail"] = _text_detail(entry["title"], "text/plain")
    elif tag == "link":
        entry["link"] = _feedparser_text(child, _FEEDPARSER_BASE, link=True)
    elif tag == "description":
        entry["summary"] = _feedparser_text(child)
        entry["summary_detail"] = _text_detail(entry["summary"], "text/html")
    elif tag == "guid":
        permalink = child.get("isPermaLink", "true") == "true"
        entry["id"] = _feedparser_text(child, _FEEDPARSER_BASE if permalink else None)
        entry["guid_link"] = entry["id"] if permalink else None
    elif tag == "pubDate":
        entry["published"] = _feedparser_text(child)
        entry["published_parsed"] = feedparser_parse_date(entry["published"])
    elif tag == f"{_DC_NS}date":
        entry["updated"] = _feedparser_text(child)
        entry["updated_parsed"] = feedparser_parse_date(entry["updated"])
    elif tag == f"{_DC_NS}creator":
        author = _feedparser_text(child)
        if "@" in author or "(" in author:
            raise NotSimpleRSS("author with an e-mail address")
        # feedparser keeps every creator in order (an empty one as {}); "author" is the last.
        entry.setdefault("authors", []).append({"name": author} if author else {})
        entry["author"] = author
    elif tag == f"{_CONTENT_NS}encoded":
        entry["content"] = [_text_detail(_feedparser_text(child), "text/html")]


def _fast_item(item: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    for child in item:
        tag = child.tag
        if tag not in _FAST_ITEM_TEXT or (tag in seen and tag not in _FAST_ITEM_REPEATABLE):
            raise NotSimpleRSS(str(tag))
        seen.add(tag)
        allowed = _FAST_ITEM_ATTRIBUTES.get(tag, set())
        if len(child) or any(name not in allowed for name in child.attrib):
            raise NotSimpleRSS(str(tag))
        _fast_item_field(entry, tag, child)
    guid_link = entry.pop("guid_link", None)
    if "link" not in entry and guid_link is not None:
        entry["link"] = guid_link
    if "summary" not in entry and "content" in entry:
        entry["summary"] = entry["content"][0]["value"]
    return entry


def parse_simple_rss(body: bytes, url: str) -> ParsedFeed:
    """Read plain RSS 2.0 with lxml exactly as feedparser would; NotSimpleRSS otherwise."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as e:
        raise NotSimpleRSS("not well-formed") from e
    if root.tag != "rss" or root.get("version") != "2.0" or len(root) != 1:
        raise NotSimpleRSS("not RSS 2.0")
    channel = root[0]
    document = document_base(url)
    feed: dict[str, Any] = {}
    entries = []
    for child in channel:
        tag = child.tag
        if tag == "item":
            entries.append(raw_entry(_fast_item(child), document))
        elif tag in _FAST_CHANNEL_TEXT:
            key = tag.replace(_SY_NS, "sy_").lower()
            if key in feed:
                raise NotSimpleRSS(f"repeated {tag}")
            is_link = tag == "link"
            feed[key] = _feedparser_text(child, _FEEDPARSER_BASE if is_link else None, link=is_link)
        elif tag == f"{_ATOM_NS}link" and child.get("rel") not in ("self", "hub"):
            raise NotSimpleRSS("atom:link in channel")
        elif tag not in _FAST_CHANNEL_IGNORED:
            raise NotSimpleRSS(str(tag))
    title = feed.get("title")
    return ParsedFeed(
        title=feed_title(_text_detail(title, "text/plain") if title else None, title),
        link=feed_link(feed, document),
        language=first_str(feed.get("language")),
        entries=tuple(entries),
        ttl_seconds=ttl_seconds(feed),
    )
