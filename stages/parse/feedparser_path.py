"""The general XML path: feedparser, with its sanitizer and URI rewriting switched off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import feedparser

from newsworker.stages.errors import ParseError
from newsworker.stages.parse.defuse import MAX_XML_DEPTH, defuse_doctype, nested_too_deep
from newsworker.stages.parse.entries import (
    document_base,
    feed_link,
    feed_title,
    first_str,
    raw_entry,
    ttl_seconds,
)
from newsworker.stages.records import ParsedFeed


def _warnings(result: Mapping[str, Any]) -> tuple[str, ...]:
    if not result.get("bozo"):
        return ()
    exception = result.get("bozo_exception")
    name = type(exception).__name__ if exception is not None else "bozo"
    return (f"{name}: {exception}",)


def parse_with_feedparser(body: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    """Parse any feed feedparser reads; ParseError when nothing usable comes out.

    feedparser is not told the document URL: it would resolve entry ids against it, and one
    feed served from two URLs would get two sets of GUIDs. Links are resolved afterwards.
    """
    defused = defuse_doctype(body)
    if nested_too_deep(defused):
        raise ParseError(
            f"refused feed {url}: elements nested deeper than {MAX_XML_DEPTH}", url=url
        )
    headers = {"content-type": content_type} if content_type else {}
    document = document_base(url)
    try:
        result = feedparser.parse(
            defused, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
        feed = result.get("feed") or {}
        entries = tuple(raw_entry(e, document) for e in result.get("entries") or ())
        title = feed_title(feed.get("title_detail"), feed.get("title"))
        link = feed_link(feed, document)
        language = first_str(feed.get("language"))
        ttl = ttl_seconds(feed)
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
