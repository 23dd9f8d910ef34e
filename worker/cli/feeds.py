"""`newsworker feeds ...`: register, list, pause, resume and remove feeds; OPML in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.table import Table

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
from newsworker.worker.cli.boundary import about
from newsworker.worker.cli.context import console, err, fail
from newsworker.worker.cli.store import store_settings
from newsworker.worker.output import echo, echo_json, error_line
from newsworker.worker.progress import progress

app = typer.Typer(help="Register and manage feeds.", no_args_is_help=True, add_completion=False)


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


def check_url(settings: Settings, url: str) -> None:
    """Refuse a feed URL that is malformed or in a scheme we do not fetch (ValueError)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - parsing the port is what finds a bad one
    except ValueError as e:
        raise ValueError(f"{url}: not a valid URL ({e})") from e
    scheme = parts.scheme.lower()
    if scheme == "file" and not settings.allow_file_urls:
        raise ValueError(f"{url}: file:// feeds need NEWSWORKER_ALLOW_FILE_URLS=true")
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"{url}: only http://, https:// and file:// feed URLs are accepted")
    if scheme != "file" and not host:
        raise ValueError(f"{url}: not a valid URL (no host)")


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


@app.command("add")
def feeds_add(
    url: str,
    interval: Annotated[int | None, typer.Option(help="Fixed poll interval in seconds.")] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Register without fetching.")
    ] = False,
) -> None:
    """Register a feed: fetch it once, validate it, discover the feed from an HTML page."""
    cfg = store_settings(logs="quiet")
    title, note = None, None
    try:
        check_url(cfg, url)
        if not no_check:
            url, title, note = validate_feed(cfg, url)
    except ValueError as e:
        raise fail(str(e)) from e
    with session_for(cfg.database_url) as session:
        feed, created = feed_store.add_feed(
            session=session, url=url, interval_seconds=interval, title=title
        )
        session.commit()
        session.refresh(feed)
        label = f"feed {feed.id} {feed.url}"
    verb = "added" if created else "already registered"
    console.print(f"{verb}: {label}" + (f" ({note})" if note else ""), highlight=False)


@app.command("list")
def feeds_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """List feeds with status, last success, last error, error count, next poll and interval."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        rows = [feed_row(f) for f in feed_store.list_feeds(session=session)]
    if as_json:
        echo_json(rows, indent=2)
        return
    table = Table(
        "id", "url", "status", "errors", "last success", "last error", "next poll", "interval"
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["url"],
            row["status"],
            str(row["error_count"]),
            row["last_success_at"] or "-",
            (row["last_error"] or "-")[:60],
            row["next_poll_at"] or "-",
            f"{row['interval_seconds']}s",
        )
    console.print(table)


def _change_feed(url_or_id: str, action: str) -> None:
    """Remove, pause or resume a feed and say which."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        try:
            feed = feed_store.find_feed(session=session, url_or_id=url_or_id)
        except LookupError as e:
            raise fail(str(e)) from e
        label = f"feed {feed.id} {feed.url}"
        if action == "remove":
            feed_store.remove_feed(session=session, feed=feed)
        else:
            status = FeedStatus.PAUSED if action == "pause" else FeedStatus.ACTIVE
            feed_store.set_feed_status(session=session, feed=feed, status=status)
        session.commit()
    console.print(f"{action}d {label}", highlight=False)


@app.command("remove")
def feeds_remove(url_or_id: str) -> None:
    """Remove a feed with its articles and stories."""
    _change_feed(url_or_id, "remove")


@app.command("pause")
def feeds_pause(url_or_id: str) -> None:
    """Stop polling a feed until it is resumed."""
    _change_feed(url_or_id, "pause")


@app.command("resume")
def feeds_resume(url_or_id: str) -> None:
    """Resume a paused, failing or disabled feed now."""
    _change_feed(url_or_id, "resume")


@app.command("errors")
def feeds_errors(
    url_or_id: str,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """Show a feed's recorded errors (fetch, parse and rejected entries), newest first."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        try:
            feed = feed_store.find_feed(session=session, url_or_id=url_or_id)
        except LookupError as e:
            raise fail(str(e)) from e
        assert feed.id is not None
        rows = [
            {
                "occurred_at": r.occurred_at.isoformat().replace("+00:00", "Z"),
                "kind": r.kind,
                "message": r.message,
            }
            for r in feed_store.recent_feed_errors(session=session, feed_id=feed.id, limit=limit)
        ]
        rejected = feed_store.rejected_entry_counts(session=session, feed_id=feed.id)
    if as_json:
        echo_json(rows, indent=2)
        return
    table = Table("when", "kind", "message", title=f"errors of feed {url_or_id}")
    for row in rows:
        table.add_row(row["occurred_at"], row["kind"], row["message"][:200])
    console.print(table)
    for reason, count in sorted(rejected.get(feed.id, {}).items()):
        console.print(f"rejected entries on record, {reason}: {count}", highlight=False)


@app.command("import-opml")
def feeds_import_opml(file: Path) -> None:
    """Register every feed of an OPML file without fetching (validated on first poll)."""
    cfg = store_settings()
    with about(str(file)):
        outlines = parse_opml(file.read_bytes())
    created = existing = skipped = 0
    with (
        session_for(cfg.database_url) as session,
        progress(err, "importing OPML", total=len(outlines), unit="feeds") as report,
    ):
        for index, outline in enumerate(outlines):
            report.advance()
            try:
                check_url(cfg, outline.url)
            except ValueError as e:
                error_line(f"{file}: skipped an outline: {e}")
                skipped += 1
                continue
            _, was_created = feed_store.add_feed(
                session=session, url=outline.url, title=outline.title
            )
            created += was_created
            existing += not was_created
            if index % 1000 == 999:
                session.commit()
        session.commit()
    console.print(
        f"imported {created} new feeds, {existing} already registered"
        + (f", {skipped} skipped" if skipped else "")
    )


@app.command("export-opml")
def feeds_export_opml() -> None:
    """Write every feed as OPML on stdout."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        feeds = feed_store.list_feeds(session=session)
        document = write_opml((f.url, f.title or f.url) for f in feeds)
    echo(document)
