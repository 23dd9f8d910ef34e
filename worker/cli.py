"""The `newsworker` command line."""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from newsworker import __version__
from newsworker.config.settings import Settings, SettingsError, load_settings
from newsworker.worker.logs import configure_logging
from newsworker.worker.ops_cli import register_ops_commands
from newsworker.worker.progress import progress

# No locals in tracebacks: they can hold URLs with credentials and webhook secrets.
app = typer.Typer(
    help="newsworker: feeds in, enriched stories out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
feeds_app = typer.Typer(help="Register and manage feeds.", no_args_is_help=True)
profiles_app = typer.Typer(help="Import and inspect entity profiles.", no_args_is_help=True)
stories_app = typer.Typer(help="Read, consume and replay published stories.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(profiles_app, name="profiles")
app.add_typer(stories_app, name="stories")
app.add_typer(db_app, name="db")

console = Console()
err = Console(stderr=True)


def settings(**overrides: Any) -> Settings:
    """Load settings or stop with one readable line naming the variable."""
    try:
        return load_settings(**overrides)
    except SettingsError as e:
        # One plain line (no wrapping), so logs and scripts see the whole message.
        typer.echo(f"newsworker: invalid configuration: {e}", err=True)
        raise typer.Exit(2) from e


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error line and return the Exit to raise."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def prepare_store(cfg: Settings) -> None:
    """Apply migrations automatically on the embedded SQLite default; elsewhere require them."""
    from newsworker.storage.migrate import is_at_head, upgrade

    if cfg.database_url.startswith("sqlite"):
        path = cfg.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if Path(path).exists() and is_at_head(cfg.database_url):
                return
        upgrade(cfg.database_url)
    elif not is_at_head(cfg.database_url):
        raise fail("the database is not migrated to head: run `newsworker db upgrade`")


def runtime_for(cfg: Settings) -> Any:
    """Build the process runtime for these settings (and make it the process-wide one)."""
    from newsworker.tasks.runtime import build_runtime, set_runtime

    rt = build_runtime(cfg)
    set_runtime(rt)
    return rt


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """newsworker: feeds in, enriched stories out."""
    if version:
        console.print(f"newsworker {__version__}")
        raise typer.Exit()


# --- demo and run -----------------------------------------------------------------------------


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Where the demo keeps its store and output.")] = Path(
        ".newsworker"
    ),
    quiet: Annotated[bool, typer.Option(help="Print only the summary.")] = False,
) -> None:
    """Import sample profiles, poll the bundled feeds once (eager, SQLite), show the stories."""
    from newsworker.worker.demo import run_demo

    configure_logging(settings(), quiet=True)
    run_demo(folder=folder, console=console, show_stories=not quiet)


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Poll due feeds once, publish, and exit.")
    ] = False,
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every active feed now.")] = False,
) -> None:
    """Poll, process and publish in this process (eager); in a loop on the feeds' schedules."""
    from newsworker.worker.running import run_loop, run_once

    cfg = settings()
    configure_logging(cfg)
    prepare_store(cfg)
    rt = runtime_for(cfg)
    if once:
        summary = run_once(rt, all_feeds=all_feeds, console=err)
        err.print(summary.table())
        return
    run_loop(rt, console=err)


@app.command()
def enrich(
    source: Annotated[str, typer.Argument(help="A JSON article file, or - for stdin.")],
) -> None:
    """Enrich one article (JSON: title, text or html, optional url) and print the story JSON."""
    from newsworker.worker.enrich_once import enrich_article_json

    cfg = settings()
    configure_logging(cfg, quiet=True)
    raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise fail(f"{source}: not JSON: {e}") from e
    try:
        story = enrich_article_json(data, settings=cfg)
    except ValueError as e:
        raise fail(f"{source}: {e}") from e
    typer.echo(json.dumps(story, ensure_ascii=False, indent=2))


# --- feeds --------------------------------------------------------------------------------------


@feeds_app.command("add")
def feeds_add(
    url: str,
    interval: Annotated[int | None, typer.Option(help="Fixed poll interval in seconds.")] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Register without fetching.")
    ] = False,
) -> None:
    """Register a feed: fetch it once, validate it, discover the feed from an HTML page."""
    from newsworker.worker.feed_admin import add_feed_checked

    cfg = settings()
    configure_logging(cfg, quiet=True)
    prepare_store(cfg)
    try:
        feed, created, note = add_feed_checked(cfg, url, interval=interval, check=not no_check)
    except ValueError as e:
        raise fail(str(e)) from e
    verb = "added" if created else "already registered"
    console.print(
        f"{verb}: feed {feed.id} {feed.url}" + (f" ({note})" if note else ""), highlight=False
    )


@feeds_app.command("list")
def feeds_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """List feeds with status, last success, last error, error count, next poll and interval."""
    from newsworker.worker.feed_admin import feed_rows

    cfg = settings()
    prepare_store(cfg)
    rows = feed_rows(cfg)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
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


def _feed_action(url_or_id: str, action: str) -> None:
    from newsworker.worker.feed_admin import change_feed

    cfg = settings()
    prepare_store(cfg)
    try:
        message = change_feed(cfg, url_or_id, action)
    except LookupError as e:
        raise fail(str(e)) from e
    console.print(message, highlight=False)


@feeds_app.command("remove")
def feeds_remove(url_or_id: str) -> None:
    """Remove a feed with its articles and stories."""
    _feed_action(url_or_id, "remove")


@feeds_app.command("pause")
def feeds_pause(url_or_id: str) -> None:
    """Stop polling a feed until it is resumed."""
    _feed_action(url_or_id, "pause")


@feeds_app.command("resume")
def feeds_resume(url_or_id: str) -> None:
    """Resume a paused, failing or disabled feed now."""
    _feed_action(url_or_id, "resume")


@feeds_app.command("errors")
def feeds_errors(
    url_or_id: str,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """Show a feed's recorded errors (fetch, parse and rejected entries), newest first."""
    from newsworker.storage import feeds as feed_store
    from newsworker.storage.db import session_for

    cfg = settings()
    prepare_store(cfg)
    with session_for(cfg.database_url) as session:
        try:
            feed = feed_store.find_feed(session=session, url_or_id=url_or_id)
        except LookupError as e:
            raise fail(str(e)) from e
        assert feed.id is not None
        rows = [
            {"occurred_at": r.occurred_at.isoformat().replace("+00:00", "Z"), "kind": r.kind,
             "message": r.message}
            for r in feed_store.recent_feed_errors(session=session, feed_id=feed.id, limit=limit)
        ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("when", "kind", "message", title=f"errors of feed {url_or_id}")
    for row in rows:
        table.add_row(row["occurred_at"], row["kind"], row["message"][:200])
    console.print(table)


@feeds_app.command("import-opml")
def feeds_import_opml(file: Path) -> None:
    """Register every feed of an OPML file without fetching (validated on first poll)."""
    from newsworker.worker.feed_admin import import_opml

    cfg = settings()
    prepare_store(cfg)
    created, existing = import_opml(cfg, file.read_bytes(), console=err)
    console.print(f"imported {created} new feeds, {existing} already registered")


@feeds_app.command("export-opml")
def feeds_export_opml() -> None:
    """Write every feed as OPML on stdout."""
    from newsworker.worker.feed_admin import export_opml

    cfg = settings()
    prepare_store(cfg)
    typer.echo(export_opml(cfg))


# --- profiles -----------------------------------------------------------------------------------


@profiles_app.command("import")
def profiles_import(
    file: Path,
    strict: Annotated[
        bool, typer.Option("--strict", help="Import nothing if any line is bad.")
    ] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: by suffix).")
    ] = None,
) -> None:
    """Upsert profiles from JSON Lines (or CSV); report created, updated, unchanged, rejected."""
    from newsworker.worker.profile_admin import import_profiles_file

    cfg = settings()
    configure_logging(cfg, quiet=True)
    prepare_store(cfg)
    if not file.exists():
        raise fail(f"{file}: no such file")
    report = import_profiles_file(cfg, file, strict=strict, fmt=fmt, console=err)
    for line_number, reason in report.rejected[:50]:
        err.print(f"{file}:{line_number}: rejected: {reason}", highlight=False)
    console.print(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}",
        highlight=False,
    )
    if strict and report.rejected:
        raise typer.Exit(1)
    if report.changed:
        _refresh_stories_after_profile_change(cfg)


def _refresh_stories_after_profile_change(cfg: Settings) -> None:
    """Recent stories that mention changed profiles are re-published as updated."""
    import newsworker.worker.app  # noqa: F401  (our app is current, so .delay() goes to our broker)
    from newsworker.tasks.celery_tasks import refresh_profile_stories

    runtime_for(cfg)
    if cfg.eager:
        count = refresh_profile_stories()
        if count:
            console.print(f"{count} recent stories will be re-published with fresher profiles")
    else:
        refresh_profile_stories.delay()


@profiles_app.command("export")
def profiles_export() -> None:
    """Write every profile as JSON Lines on stdout."""
    from newsworker.worker.profile_admin import export_profiles

    cfg = settings()
    prepare_store(cfg)
    for line in export_profiles(cfg):
        typer.echo(line)


@profiles_app.command("show")
def profiles_show(profile_id: str) -> None:
    """Print one profile as JSON."""
    from newsworker.worker.profile_admin import show_profile

    cfg = settings()
    prepare_store(cfg)
    profile = show_profile(cfg, profile_id)
    if profile is None:
        raise fail(f"no profile {profile_id!r}")
    typer.echo(json.dumps(profile, indent=2, ensure_ascii=False))


@profiles_app.command("remove")
def profiles_remove(profile_id: str) -> None:
    """Remove one profile."""
    from newsworker.worker.profile_admin import remove_profile

    cfg = settings()
    prepare_store(cfg)
    if not remove_profile(cfg, profile_id):
        raise fail(f"no profile {profile_id!r}")
    console.print(f"removed {profile_id}")


# --- stories ------------------------------------------------------------------------------------


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        value = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as e:
        raise fail(f"--since {since!r} is not ISO 8601 (e.g. 2026-01-31T00:00:00Z)") from e
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@stories_app.command("export")
def stories_export(
    since: Annotated[
        str | None, typer.Option(help="Only stories updated since (ISO 8601).")
    ] = None,
) -> None:
    """Print published stories as JSON Lines."""
    from newsworker.storage.outbox import iter_stories_since

    cfg = settings()
    prepare_store(cfg)
    rt = runtime_for(cfg)
    with rt.session() as session:
        for story in iter_stories_since(session=session, since=_parse_since(since)):
            typer.echo(json.dumps(story, ensure_ascii=False))


@stories_app.command("show")
def stories_show(story_id: str) -> None:
    """Print one story as JSON."""
    from newsworker.storage.outbox import get_story

    cfg = settings()
    prepare_store(cfg)
    rt = runtime_for(cfg)
    with rt.session() as session:
        story = get_story(session=session, story_id=story_id)
    if story is None:
        raise fail(f"no story {story_id!r}")
    typer.echo(json.dumps(story, ensure_ascii=False, indent=2))


@stories_app.command("replay")
def stories_replay(
    since: Annotated[str, typer.Option(help="Re-emit stories since (ISO 8601).")],
    sink: Annotated[str | None, typer.Option(help="Only this sink (default: all).")] = None,
) -> None:
    """Re-emit stored stories to the sinks."""
    from newsworker.tasks.relay import replay

    cfg = settings()
    configure_logging(cfg, quiet=True)
    prepare_store(cfg)
    rt = runtime_for(cfg)
    since_at = _parse_since(since)
    assert since_at is not None
    chosen = [s for s in rt.sinks if sink is None or s.name == sink]
    if not chosen:
        raise fail(f"no sink named {sink!r}; configured: {[s.name for s in rt.sinks]}")
    for target in chosen:
        with (
            rt.session() as session,
            progress(err, f"replaying to {target.name}", unit="stories") as report,
        ):
            count = replay(session=session, sink=_CountingSink(target, report), since=since_at)
        console.print(f"replayed {count} stories to {target.name}")


class _CountingSink:
    """A sink that reports each batch it passes on to the real one, for replay's progress."""

    def __init__(self, inner: Any, report: Any) -> None:
        self.inner, self.report, self.name = inner, report, inner.name

    def send(self, events: Any) -> Any:
        outcomes = self.inner.send(events)
        self.report.advance(len(events))
        return outcomes


@stories_app.command("dead-letters")
def stories_dead_letters(
    requeue: Annotated[
        list[int] | None, typer.Option("--requeue", help="Requeue this delivery id (repeatable).")
    ] = None,
    requeue_all: Annotated[bool, typer.Option("--requeue-all", help="Requeue every one.")] = False,
    sink: Annotated[str | None, typer.Option(help="Only this sink.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """List deliveries that gave up (webhooks past their attempts), or put them back in line."""
    import dataclasses

    from newsworker.storage.outbox import dead_letters, requeue_dead

    cfg = settings()
    prepare_store(cfg)
    rt = runtime_for(cfg)
    with rt.session() as session:
        if requeue or requeue_all:
            count = requeue_dead(session=session, ids=requeue or None, all=requeue_all)
            session.commit()
            console.print(f"requeued {count} deliveries; the next publish retries them")
            return
        rows = dead_letters(session=session, limit=1000, sink=sink)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in rows], default=str, indent=2))
        return
    table = Table("delivery", "sink", "story", "revision", "attempts", "last error")
    for row in rows:
        table.add_row(
            str(row.delivery_id), row.sink, row.story_id, str(row.revision), str(row.attempts),
            (row.last_error or "")[:60],
        )  # fmt: skip
    console.print(table)


@stories_app.command("consume")
def stories_consume(
    group: Annotated[str, typer.Option(help="Consumer group name.")],
    consumer: Annotated[str | None, typer.Option(help="Consumer name (default: host-pid).")] = None,
    count: Annotated[int, typer.Option(help="Read this many at a time.")] = 100,
    block_ms: Annotated[int, typer.Option(help="Block this long waiting for entries.")] = 5000,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Stop when nothing new arrives.")
    ] = False,
    claim_idle_ms: Annotated[
        int, typer.Option(help="Claim others' entries idle this long.")
    ] = 60000,
) -> None:
    """Read the story stream with a consumer group, print JSON Lines, ack after printing."""
    import os
    import socket

    from newsworker.stages.publish.consumer import consume

    cfg = settings()
    if not cfg.redis_url:
        raise fail("NEWSWORKER_REDIS_URL is not set: there is no stream to consume")
    name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    out = _CountingWriter(sys.stdout)
    stopping = {"signal": False, "seen": -1}

    def on_signal(*_: object) -> None:
        stopping["signal"] = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)

    def stop() -> bool:
        if stopping["signal"]:
            return True
        idle = out.lines == stopping["seen"]
        stopping["seen"] = out.lines
        return exit_when_idle and idle

    consume(
        redis_url=cfg.redis_url,
        stream=cfg.stream_name,
        group=group,
        consumer=name,
        out=out,  # type: ignore[arg-type]
        block_ms=block_ms,
        count=count,
        min_idle_ms_for_claim=claim_idle_ms,
        stop=stop,
    )


class _CountingWriter:
    """Counts the lines written through it, so `consume --exit-when-idle` knows when to stop."""

    def __init__(self, target: Any) -> None:
        self.target, self.lines = target, 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return int(self.target.write(text))

    def flush(self) -> None:
        self.target.flush()


# --- fleet --------------------------------------------------------------------------------------


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    ctx: typer.Context,
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = "dispatch,poll,publish",
    concurrency: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Run a Celery worker with our settings (extra options go to `celery worker`)."""
    cfg = settings()
    if cfg.eager:
        raise fail("NEWSWORKER_BROKER_URL is not set: a worker needs a broker (redis://...)")
    configure_logging(cfg)
    from newsworker.worker.app import app as celery_app

    argv = ["worker", "--queues", queues, "--loglevel", cfg.log_level]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    celery_app.worker_main([*argv, *ctx.args])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat(ctx: typer.Context) -> None:
    """Run the scheduler (celery beat with a RedBeat lock: one active, others on hot standby)."""
    cfg = settings()
    if cfg.eager:
        raise fail("NEWSWORKER_BROKER_URL is not set: beat needs a broker (redis://...)")
    configure_logging(cfg)
    from newsworker.worker.app import app as celery_app

    celery_app.start(["beat", "--loglevel", cfg.log_level, *ctx.args])


@app.command()
def dispatch(
    all_feeds: Annotated[
        bool, typer.Option("--all", help="Every active feed, due or not.")
    ] = False,
) -> None:
    """Enqueue one poll per due feed on the broker, and return."""
    cfg = settings()
    if cfg.eager:
        raise fail("NEWSWORKER_BROKER_URL is not set: use `newsworker run --once` in embedded mode")
    prepare_store(cfg)
    runtime_for(cfg)
    import newsworker.worker.app  # noqa: F401  (makes our app current, so .delay() goes to our broker)
    from newsworker.tasks.celery_tasks import dispatch_due_feeds

    count = dispatch_due_feeds(all_feeds=all_feeds)
    console.print(f"enqueued {count} polls")


# --- database -----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (to head by default)."""
    from newsworker.storage.migrate import current_revision, upgrade

    cfg = settings()
    if cfg.database_url.startswith("sqlite"):
        path = cfg.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    upgrade(cfg.database_url, revision)
    console.print(f"database at {current_revision(cfg.database_url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision, and whether it is at head."""
    from newsworker.storage.migrate import current_revision, head_revision

    cfg = settings()
    current, head = current_revision(cfg.database_url), head_revision()
    console.print(
        f"current {current or 'none'}; head {head}" + ("" if current == head else " (behind)")
    )
    if current != head:
        raise typer.Exit(1)


register_ops_commands(app)


def main() -> None:
    """Entry point of the `newsworker` script."""
    app()


if __name__ == "__main__":
    main()
