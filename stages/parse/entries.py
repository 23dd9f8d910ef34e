"""Feedparser-shaped entry dicts to RawEntry: the one reading both XML paths share."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from feedparser.urls import _urljoin as feedparser_urljoin
from feedparser.urls import make_safe_absolute_uri

from newsworker.stages.normalize.content import clean_plain_text, html_to_text, sanitize_html
from newsworker.stages.normalize.dates import parse_feed_date
from newsworker.stages.records import RawEntry

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SY_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
# RSS 2.0 <author>: "jane@example.com (Jane Doe)"; the name is in the parentheses.
_EMAIL_WITH_NAME = re.compile(r"^\s*[^\s@()]+@[^\s@()]+\s*\((?P<name>[^()]+)\)\s*$")


def document_base(url: str) -> str:
    """The base the document's own URL gives relative links, as feedparser derives it."""
    return make_safe_absolute_uri("", url) or make_safe_absolute_uri(url) or ""


def entry_base(document: str, declared: str | None) -> str:
    """The document base with the entry's xml:base applied; an unsafe xml:base is ignored."""
    if not declared:
        return document
    return make_safe_absolute_uri(document, declared) or document


def first_str(*values: Any) -> str | None:
    """The first non-blank string among values, stripped."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def text_value(detail: Mapping[str, Any] | None, value: Any) -> str | None:
    """Plain text of a feedparser text construct, decoding entities exactly once."""
    if not isinstance(value, str):
        return None
    detail_type = detail.get("type") if detail else None
    if detail_type in _HTML_TYPES:
        return html_to_text(sanitize_html(value, None)) or None
    return value


def feed_title(detail: Mapping[str, Any] | None, value: Any) -> str | None:
    """The feed's own title as clean plain text."""
    title = text_value(detail, value)
    return clean_plain_text(title) or None if title else None


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


def author_names(authors: Any, author: Any) -> tuple[str, ...]:
    """Every author's name in document order; the author string only when no name is given."""
    names: list[str] = []
    for detail in authors if isinstance(authors, list) else ():
        name = first_str(detail.get("name")) if isinstance(detail, Mapping) else None
        if name and name not in names:
            names.append(name)
    if names:
        return tuple(names)
    fallback = first_str(author)
    if fallback is None:
        return ()
    with_name = _EMAIL_WITH_NAME.match(fallback)
    return (with_name.group("name").strip() if with_name else fallback,)


def raw_entry(entry: dict[str, Any], document: str) -> RawEntry:
    """One entry as RawEntry: ids as written, links resolved, the feed's own dates."""
    content_html, content_detail = _content(entry)
    summary_detail = entry.get("summary_detail")
    title_detail = entry.get("title_detail")
    # dict.get: FeedParserDict.get("updated*") silently falls back to the published date.
    updated_raw = first_str(dict.get(entry, "updated"))
    updated_at = parse_feed_date(updated_raw, dict.get(entry, "updated_parsed"))
    published_raw = first_str(dict.get(entry, "published"), dict.get(entry, "created"))
    published_parsed = dict.get(entry, "published_parsed") or dict.get(entry, "created_parsed")
    published_at = parse_feed_date(published_raw, published_parsed)
    if published_at is None and updated_at is not None:
        # RSS 1.0 dc:date and Atom <updated> alone: the feed's only date is the publication's.
        published_raw, published_at = updated_raw, updated_at
    details = [d for d in (content_detail, summary_detail, title_detail) if d]
    base = entry_base(document, first_str(*(d.get("base") for d in details)))
    link = first_str(entry.get("link"))
    authors = author_names(dict.get(entry, "authors"), dict.get(entry, "author"))
    return RawEntry(
        guid=first_str(dict.get(entry, "id")),
        link=feedparser_urljoin(base, link) or None if link else None,
        title=text_value(title_detail, entry.get("title")),
        summary_html=_html_value(summary_detail, entry.get("summary")),
        content_html=content_html,
        published_raw=published_raw,
        published_at=published_at,
        updated_raw=updated_raw,
        updated_at=updated_at,
        language=first_str(*(d.get("language") for d in details)),
        base_url=base or None,
        author=authors[0] if authors else None,
        authors=authors,
    )


def feed_link(feed: Mapping[str, Any], document: str) -> str | None:
    """The feed's site link, resolved against the document."""
    link = first_str(feed.get("link"))
    return feedparser_urljoin(document, link) or None if link else None


def ttl_seconds(feed: Mapping[str, Any]) -> int | None:
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
