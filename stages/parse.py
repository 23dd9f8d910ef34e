"""The parse stage: feed bytes in, a ParsedFeed of RawEntry out. Pure: no network, no DB."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Mapping
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date as feedparser_parse_date
from feedparser.mixin import _cp1252 as FEEDPARSER_CP1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin as feedparser_urljoin
from feedparser.urls import make_safe_absolute_uri
from lxml import etree

from newsworker.stages.errors import ParseError
from newsworker.stages.normalize.content import html_to_text, sanitize_html
from newsworker.stages.normalize.dates import parse_feed_date
from newsworker.stages.records import ParsedFeed, RawEntry

# Conditions feedparser flags as bozo although the feed is still read correctly.
RECOVERABLE_BOZO = frozenset(
    {
        "CharacterEncodingOverride",
        "CharacterEncodingUnknown",
        "NonXMLContentType",
        "UndeclaredNamespace",
    }
)
_SY_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Entity declarations: those that read outside resources (XXE) or expand other entities
# (billion laughs, also via &#38;) are dropped. A single character reference is kept.
_ENTITY_DECLARATION = re.compile(
    rb"<!ENTITY\s+(?P<name>%?\s*[^\s>]+)\s+(?P<rest>\"[^\"]*\"|'[^']*'|[^>]*)[^>]*>"
)
_CHARACTER_REFERENCE = re.compile(rb"[\"']&#x?[0-9A-Fa-f]+;[\"']")
_PROLOG_SCAN_BYTES = 65536


def _entity_declaration_if_safe(declaration: re.Match[bytes]) -> bytes:
    rest = declaration.group("rest")
    if b"&" not in rest and rest[:1] in (b'"', b"'"):
        return declaration.group(0)
    if _CHARACTER_REFERENCE.fullmatch(rest):
        return declaration.group(0)
    return b""


def _defuse_doctype(body: bytes) -> bytes:
    """Drop entity declarations that nest or fetch, before any XML parser sees the body."""
    prolog = body[:_PROLOG_SCAN_BYTES]
    if b"<!ENTITY" not in prolog:
        return body
    return _ENTITY_DECLARATION.sub(_entity_declaration_if_safe, prolog) + body[_PROLOG_SCAN_BYTES:]


def _text_value(detail: Mapping[str, Any] | None, value: Any) -> str | None:
    """Plain text of a feedparser text construct, decoding entities exactly once."""
    if not isinstance(value, str):
        return None
    detail_type = detail.get("type") if detail else None
    if detail_type in _HTML_TYPES:
        return html_to_text(sanitize_html(value, None)) or None
    return value


def _html_value(detail: Mapping[str, Any] | None, value: Any) -> str | None:
    """A feedparser text construct as HTML: plain text is escaped so it decodes only once."""
    if not isinstance(value, str) or not value:
        return None
    detail_type = detail.get("type") if detail else None
    if detail_type in (None, *_HTML_TYPES):
        return value
    return html.escape(value, quote=False)


def _content(entry: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any] | None]:
    """The richest content block: HTML before plain text, longest first."""
    blocks = [b for b in entry.get("content") or () if isinstance(b, Mapping)]
    if not blocks:
        return None, None
    best = max(blocks, key=lambda b: (b.get("type") in _HTML_TYPES, len(b.get("value") or "")))
    return _html_value(best, best.get("value")), best


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _raw_entry(entry: dict[str, Any]) -> RawEntry:
    content_html, content_detail = _content(entry)
    summary_detail = entry.get("summary_detail")
    title_detail = entry.get("title_detail")
    published_raw = _first_str(dict.get(entry, "published"), dict.get(entry, "created"))
    published_parsed = dict.get(entry, "published_parsed") or dict.get(entry, "created_parsed")
    # dict.get: FeedParserDict.get("updated*") silently falls back to the published date.
    updated_raw = _first_str(dict.get(entry, "updated"))
    details = [d for d in (content_detail, summary_detail, title_detail) if d]
    return RawEntry(
        guid=_first_str(dict.get(entry, "id")),
        link=_first_str(entry.get("link")),
        title=_text_value(title_detail, entry.get("title")),
        summary_html=_html_value(summary_detail, entry.get("summary")),
        content_html=content_html,
        published_raw=published_raw,
        published_at=parse_feed_date(published_raw, published_parsed),
        updated_raw=updated_raw,
        updated_at=parse_feed_date(updated_raw, dict.get(entry, "updated_parsed")),
        language=_first_str(*(d.get("language") for d in details)),
        base_url=_first_str(*(d.get("base") for d in details)),
        author=_first_str(entry.get("author")),
    )


def _ttl_seconds(feed: Mapping[str, Any]) -> int | None:
    """RSS <ttl> minutes, else sy:updatePeriod / sy:updateFrequency, in seconds."""
    ttl = feed.get("ttl")
    if isinstance(ttl, str) and ttl.strip().isdigit() and int(ttl) > 0:
        return int(ttl) * 60
    period = feed.get("sy_updateperiod")
    if isinstance(period, str) and period.strip().lower() in _SY_PERIOD_SECONDS:
        frequency = str(feed.get("sy_updatefrequency") or "1").strip()
        times = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
        return _SY_PERIOD_SECONDS[period.strip().lower()] // times
    return None


def _warnings(result: Mapping[str, Any]) -> tuple[str, ...]:
    if not result.get("bozo"):
        return ()
    exception = result.get("bozo_exception")
    name = type(exception).__name__ if exception is not None else "bozo"
    return (f"{name}: {exception}",)


class _NotSimpleRSS(Exception):
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


def _fast_path_allowed(body: bytes, content_type: str | None) -> bool:
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
        raise _NotSimpleRSS(element.tag)
    output = (element.text or "").strip()
    if base is not None and output:
        output = feedparser_urljoin(base, output)
    if not output.isascii():
        output = _feedparser_repairs(output)
    if link:
        output = _LINK_ENTITY_LEFTOVER.sub(r"&\g<1>", output.replace("&amp;", "&"))
    return output


def _text_detail(value: str, default_type: str, base: str) -> dict[str, Any]:
    kind = default_type
    if kind == "text/plain" and _FeedParserMixin.looks_like_html(value):
        kind = "text/html"
    return {"type": kind, "language": None, "base": base, "value": value}


def _fast_item_field(entry: dict[str, Any], tag: str, child: Any, base: str) -> None:
    """Store one item child the way feedparser's handlers would."""
    if tag == "title":
        entry["title"] = _feedparser_text(child)
        entry["title_detail"] = _text_detail(entry["title"], "text/plain", base)
    elif tag == "link":
        entry["link"] = _feedparser_text(child, base, link=True)
    elif tag == "description":
        entry["summary"] = _feedparser_text(child)
        entry["summary_detail"] = _text_detail(entry["summary"], "text/html", base)
    elif tag == "guid":
        permalink = child.get("isPermaLink", "true") == "true"
        entry["id"] = _feedparser_text(child, base if permalink else None)
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
            raise _NotSimpleRSS("author with an e-mail address")
        entry["author"] = author
    elif tag == f"{_CONTENT_NS}encoded":
        content = _text_detail(_feedparser_text(child), "text/html", base)
        entry["content"] = [content]


def _fast_item(item: Any, base: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    for child in item:
        tag = child.tag
        if tag not in _FAST_ITEM_TEXT or (tag in seen and tag != "category"):
            raise _NotSimpleRSS(str(tag))
        seen.add(tag)
        allowed = _FAST_ITEM_ATTRIBUTES.get(tag, set())
        if len(child) or any(name not in allowed for name in child.attrib):
            raise _NotSimpleRSS(str(tag))
        _fast_item_field(entry, tag, child, base)
    guid_link = entry.pop("guid_link", None)
    if "link" not in entry and guid_link is not None:
        entry["link"] = guid_link
    if "summary" not in entry and "content" in entry:
        entry["summary"] = entry["content"][0]["value"]
    return entry


def _parse_simple_rss(body: bytes, url: str) -> ParsedFeed:
    """Read plain RSS 2.0 with lxml exactly as feedparser would; _NotSimpleRSS otherwise."""
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
        raise _NotSimpleRSS("not well-formed") from e
    if root.tag != "rss" or root.get("version") != "2.0" or len(root) != 1:
        raise _NotSimpleRSS("not RSS 2.0")
    channel = root[0]
    base = make_safe_absolute_uri("", url) or make_safe_absolute_uri(url) or ""
    feed: dict[str, Any] = {}
    entries = []
    for child in channel:
        tag = child.tag
        if tag == "item":
            entries.append(_raw_entry(_fast_item(child, base)))
        elif tag in _FAST_CHANNEL_TEXT:
            key = tag.replace(_SY_NS, "sy_").lower()
            if key in feed:
                raise _NotSimpleRSS(f"repeated {tag}")
            feed[key] = _feedparser_text(child, base if tag == "link" else None, link=tag == "link")
        elif tag == f"{_ATOM_NS}link" and child.get("rel") not in ("self", "hub"):
            raise _NotSimpleRSS("atom:link in channel")
        elif tag not in _FAST_CHANNEL_IGNORED:
            raise _NotSimpleRSS(str(tag))
    title = feed.get("title")
    return ParsedFeed(
        title=_text_value(_text_detail(title, "text/plain", base), title) if title else title,
        link=_first_str(feed.get("link")),
        language=_first_str(feed.get("language")),
        entries=tuple(entries),
        ttl_seconds=_ttl_seconds(feed),
    )


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes with feedparser (no fetching, no sanitizing: normalize sanitizes)."""
    if not body or not body.strip():
        raise ParseError(f"empty body from feed {url}", url=url)
    if _fast_path_allowed(body, content_type):
        try:
            return _parse_simple_rss(body, url)
        except _NotSimpleRSS:
            pass
        except Exception as e:
            raise ParseError(
                f"RSS reader failed on feed {url}: {type(e).__name__}: {e}", url=url
            ) from e
    return _parse_with_feedparser(body, url=url, content_type=content_type)


def _parse_with_feedparser(body: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    """The general path: feedparser with its sanitizer and URI rewriting switched off."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        result = feedparser.parse(
            _defuse_doctype(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        feed = result.get("feed") or {}
        entries = tuple(_raw_entry(e) for e in result.get("entries") or ())
        title = _text_value(feed.get("title_detail"), feed.get("title"))
        link = _first_str(feed.get("link"))
        language = _first_str(feed.get("language"))
        ttl = _ttl_seconds(feed)
        version = result.get("version") or ""
    except ParseError:
        raise
    except Exception as e:  # feedparser and its SAX/sgml back ends raise anything
        raise ParseError(
            f"feedparser failed on feed {url}: {type(e).__name__}: {e}", url=url
        ) from e
    # An empty but recognised feed is fine (nothing new yet); an unrecognised body is not.
    if not entries and not version:
        reason = _warnings(result)
        detail = f": {reason[0]}" if reason else ""
        raise ParseError(f"nothing usable in feed {url}{detail}", url=url)
    return ParsedFeed(
        title=title,
        link=link,
        language=language,
        entries=entries,
        ttl_seconds=ttl,
        warnings=_warnings(result),
    )
