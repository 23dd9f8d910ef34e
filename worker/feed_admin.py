"""Feed management behind `newsworker feeds ...`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from newsworker.config.settings import Settings
from newsworker.stages.discovery import discover_feed_links, looks_like_html
from newsworker.stages.errors import IngestError
from newsworker.stages.fetch import Fetcher
from newsworker.stages.opml import parse_opml, write_opml
from newsworker.stages.parse import parse_feed
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.models import Feed, FeedStatus
from newsworker.tasks.runtime import fetch_policy
from newsworker.worker.progress import progress


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def feed_row(feed: Feed) -> dict[str, Any]:
    """The JSON shape of `feeds list --json` (scripts rely on these names)."""
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "status": feed.status,
        "error_count": feed.error_count,
        "last_error": feed.last_error,
        "last_error_at": _iso(feed.last_error_at),
        "last_success_at": _iso(feed.last_success_at),
        "last_polled_at": _iso(feed.last_polled_at),
        "next_poll_at": _iso(feed.next_poll_at),
        "interval_seconds": feed.interval_override_seconds or feed.interval_seconds,
        "disabled_reason": feed.disabled_reason,
        "url_history": feed.url_history,
    }


def feed_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every feed as a `feeds list --json` row."""
    with session_for(settings.database_url) as session:
        return [feed_row(f) for f in feed_store.list_feeds(session=session)]


def _check_url(settings: Settings, url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file" and not settings.allow_file_urls:
        raise ValueError(f"{url}: file:// feeds need NEWSWORKER_ALLOW_FILE_URLS=true")
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"{url}: only http://, https:// and file:// feed URLs are accepted")


def validate_feed(settings: Settings, url: str) -> tuple[str, str | None, str | None]:
    """Fetch once and parse; follow an HTML page's feed link. Returns (url, title, note)."""
    with Fetcher(fetch_policy(settings)) as fetcher:
        try:
            result = fetcher.fetch(url)
            note = None
            if result.body is not None and looks_like_html(result.body, result.content_type):
                links = discover_feed_links(result.body, result.final_url)
                if not links:
                    raise ValueError(f"{url}: an HTML page with no <link rel=alternate> feed")
                url, note = links[0], f"discovered from {url}"
                result = fetcher.fetch(url)
            if result.body is None:
                raise ValueError(f"{url}: empty response")
            parsed = parse_feed(result.body, url=result.final_url, content_type=result.content_type)
        except IngestError as e:
            raise ValueError(f"{url}: {e}") from e
    return url, parsed.title, note


def add_feed_checked(
    settings: Settings, url: str, *, interval: int | None, check: bool
) -> tuple[Feed, bool, str | None]:
    """Validate (unless check is False) and register a feed."""
    _check_url(settings, url)
    title, note = None, None
    if check:
        url, title, note = validate_feed(settings, url)
    with session_for(settings.database_url) as session:
        feed, created = feed_store.add_feed(
            session=session, url=url, interval_seconds=interval, title=title
        )
        session.commit()
        session.refresh(feed)
        return feed, created, note


def change_feed(settings: Settings, url_or_id: str, action: str) -> str:
    """Remove, pause or resume a feed; returns a message for the user."""
    with session_for(settings.database_url) as session:
        feed = feed_store.find_feed(session=session, url_or_id=url_or_id)
        label = f"feed {feed.id} {feed.url}"
        if action == "remove":
            feed_store.remove_feed(session=session, feed=feed)
        elif action == "pause":
            feed_store.set_feed_status(session=session, feed=feed, status=FeedStatus.PAUSED)
        elif action == "resume":
            feed_store.set_feed_status(session=session, feed=feed, status=FeedStatus.ACTIVE)
        else:
            raise ValueError(f"unknown action {action!r}")
        session.commit()
    return f"{action}d {label}"


def import_opml(settings: Settings, data: bytes, *, console: Console) -> tuple[int, int]:
    """Register every outline of an OPML document without fetching; returns (created, existing)."""
    outlines = parse_opml(data)
    created = existing = 0
    with (
        session_for(settings.database_url) as session,
        progress(console, "importing OPML", total=len(outlines), unit="feeds") as report,
    ):
        for index, outline in enumerate(outlines):
            _, was_created = feed_store.add_feed(
                session=session, url=outline.url, title=outline.title
            )
            created += was_created
            existing += not was_created
            report.advance()
            if index % 1000 == 999:
                session.commit()
        session.commit()
    return created, existing


def export_opml(settings: Settings) -> str:
    """Every feed as an OPML document."""
    with session_for(settings.database_url) as session:
        feeds = feed_store.list_feeds(session=session)
        return write_opml((f.url, f.title or f.url) for f in feeds)
