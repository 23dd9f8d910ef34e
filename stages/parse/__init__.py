"""The parse stage: feed bytes in, a ParsedFeed of RawEntry out. Pure: no network, no DB.

Plain RSS 2.0 goes through the lxml fast path (fast_rss), JSON Feed through json_feed, and
everything else through feedparser (feedparser_path); all three give the same RawEntry shape.
"""

from __future__ import annotations

from newsworker.stages.errors import ParseError
from newsworker.stages.parse.fast_rss import NotSimpleRSS, fast_path_allowed, parse_simple_rss
from newsworker.stages.parse.feedparser_path import parse_with_feedparser
from newsworker.stages.parse.json_feed import looks_like_json, parse_json_feed
from newsworker.stages.records import ParsedFeed

__all__ = ["parse_feed"]


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes (no fetching; normalize sanitizes); ParseError when unusable."""
    if not body or not body.strip():
        raise ParseError(f"empty body from feed {url}", url=url)
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if looks_like_json(body, media_type):
        return parse_json_feed(body, url=url, media_type=media_type)
    if fast_path_allowed(body, content_type):
        try:
            return parse_simple_rss(body, url)
        except NotSimpleRSS:
            pass
        except Exception as e:
            raise ParseError(
                f"RSS reader failed on feed {url}: {type(e).__name__}: {e}", url=url
            ) from e
    return parse_with_feedparser(body, url=url, content_type=content_type)
