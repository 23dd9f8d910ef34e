"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/) read into the same RawEntry.

Items are mapped onto the feedparser-shaped dicts the XML paths produce, so dates, authors
and links follow one set of rules, and normalize sanitizes their HTML like any other.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import orjson
from feedparser.datetimes import _parse_date as feedparser_parse_date

from newsworker.stages.errors import ParseError
from newsworker.stages.parse.entries import (
    document_base,
    feed_link,
    feed_title,
    first_str,
    raw_entry,
)
from newsworker.stages.records import ParsedFeed

JSON_FEED_MEDIA_TYPE = "application/feed+json"
_VERSION_PREFIX = "https://jsonfeed.org/version/"
_BOM = b"\xef\xbb\xbf"


def looks_like_json(body: bytes, media_type: str) -> bool:
    """True for a body served as JSON Feed, or one whose first character opens an object."""
    return media_type == JSON_FEED_MEDIA_TYPE or body.lstrip().removeprefix(_BOM)[:1] == b"{"


def _authors(holder: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """JSON Feed 1.1 "authors", else 1.0 "author", as feedparser-style author dicts."""
    listed = holder.get("authors")
    if not isinstance(listed, list):
        single = holder.get("author")
        listed = [single] if isinstance(single, Mapping) else None
    if listed is None:
        return None
    names = (first_str(a.get("name")) for a in listed if isinstance(a, Mapping))
    return [{"name": name} for name in names if name]


def _text_as_html(text: str) -> str:
    """Plain content_text as HTML that keeps its line and paragraph breaks."""
    return html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br>")


def _date(entry: dict[str, Any], key: str, value: Any) -> None:
    raw = first_str(value)
    if raw is not None:
        entry[key] = raw
        entry[f"{key}_parsed"] = feedparser_parse_date(raw)


def _entry(item: Mapping[str, Any], feed_authors: list[dict[str, str]] | None) -> dict[str, Any]:
    """One item as the dict feedparser would have made of the equivalent Atom entry."""
    language = first_str(item.get("language"))
    identifier = item.get("id")
    entry: dict[str, Any] = {
        "id": str(identifier) if isinstance(identifier, str | int) else None,
        "link": first_str(item.get("url"), item.get("external_url")),
    }
    title = item.get("title")
    if isinstance(title, str):
        entry["title"] = title
        entry["title_detail"] = {"type": "text/plain", "language": language}
    summary = item.get("summary")
    if isinstance(summary, str):
        entry["summary"] = summary
        entry["summary_detail"] = {"type": "text/plain", "language": language}
    content_html, content_text = item.get("content_html"), item.get("content_text")
    if isinstance(content_html, str) and content_html:
        entry["content"] = [{"type": "text/html", "value": content_html, "language": language}]
    elif isinstance(content_text, str) and content_text:
        body = _text_as_html(content_text)
        entry["content"] = [{"type": "text/html", "value": body, "language": language}]
    _date(entry, "published", item.get("date_published"))
    _date(entry, "updated", item.get("date_modified"))
    authors = _authors(item)
    entry["authors"] = authors if authors is not None else feed_authors
    return entry


def parse_json_feed(body: bytes, *, url: str, media_type: str) -> ParsedFeed:
    """Parse a JSON Feed; ParseError naming the URL for malformed or over-deep JSON."""
    try:
        document = orjson.loads(body.lstrip().removeprefix(_BOM))
    except orjson.JSONDecodeError as e:  # also orjson's nesting limit (1024 levels)
        raise ParseError(f"malformed JSON in feed {url}: {e}", url=url) from e
    version = document.get("version") if isinstance(document, dict) else None
    is_json_feed = isinstance(version, str) and version.startswith(_VERSION_PREFIX)
    if not is_json_feed and media_type != JSON_FEED_MEDIA_TYPE:
        raise ParseError(f"nothing usable in feed {url}: JSON but not a JSON Feed", url=url)
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ParseError(f"nothing usable in feed {url}: JSON Feed without items", url=url)
    base = document_base(url)
    feed_authors = _authors(document)
    entries = tuple(
        raw_entry(_entry(item, feed_authors), base) for item in items if isinstance(item, dict)
    )
    return ParsedFeed(
        title=feed_title(None, document.get("title")),
        link=feed_link({"link": document.get("home_page_url")}, base),
        language=first_str(document.get("language")),
        entries=entries,
    )
