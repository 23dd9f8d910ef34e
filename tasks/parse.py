"""The parse stage: feed bytes in, a ParsedFeed of RawEntry out. Pure: no network, no DB."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import feedparser

from tasks.errors import ParseError
from tasks.normalize.content import html_to_text, sanitize_html
from tasks.normalize.dates import parse_feed_date
from tasks.records import ParsedFeed, RawEntry

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


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes with feedparser (no fetching, no sanitizing: normalize sanitizes)."""
    if not body or not body.strip():
        raise ParseError(f"empty body from feed {url}", url=url)
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
