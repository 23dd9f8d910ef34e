"""`newsworker stories ...`: export, show, replay and consume published stories; dead letters."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from newsworker.stages.publish.consumer import consume
from newsworker.storage.dead_letters import dead_letters, requeue_dead
from newsworker.storage.story_payloads import get_story, iter_stories_since
from newsworker.tasks.relay import replay
from newsworker.worker.cli.context import console, err, fail, settings
from newsworker.worker.cli.runtime import runtime
from newsworker.worker.output import echo_json
from newsworker.worker.progress import progress

app = typer.Typer(
    help="Read, consume and replay published stories.", no_args_is_help=True, add_completion=False
)


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        value = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as e:
        raise fail(f"--since {since!r} is not ISO 8601 (e.g. 2026-01-31T00:00:00Z)") from e
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as e:
        raise fail(f"--since {since!r} is out of range in UTC") from e


@app.command("export")
def stories_export(
    since: Annotated[
        str | None, typer.Option(help="Only stories updated since (ISO 8601).")
    ] = None,
) -> None:
    """Print published stories as JSON Lines."""
    rt = runtime()
    with rt.session() as session:
        for story in iter_stories_since(session=session, since=_parse_since(since)):
            echo_json(story, ensure_ascii=False)


@app.command("show")
def stories_show(story_id: str) -> None:
    """Print one story as JSON."""
    rt = runtime()
    with rt.session() as session:
        story = get_story(session=session, story_id=story_id)
    if story is None:
        raise fail(f"no story {story_id!r}")
    echo_json(story, ensure_ascii=False, indent=2)


@app.command("replay")
def stories_replay(
    since: Annotated[str, typer.Option(help="Re-emit stories since (ISO 8601).")],
    sink: Annotated[str | None, typer.Option(help="Only this sink (default: all).")] = None,
) -> None:
    """Re-emit stored stories to the sinks."""
    rt = runtime(logs="quiet")
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


@app.command("dead-letters")
def stories_dead_letters(
    requeue: Annotated[
        list[int] | None, typer.Option("--requeue", help="Requeue this delivery id (repeatable).")
    ] = None,
    requeue_all: Annotated[bool, typer.Option("--requeue-all", help="Requeue every one.")] = False,
    sink: Annotated[str | None, typer.Option(help="Only this sink.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """List deliveries that gave up (webhooks past their attempts), or put them back in line."""
    rt = runtime()
    with rt.session() as session:
        if requeue or requeue_all:
            count = requeue_dead(session=session, ids=requeue or None, all=requeue_all)
            session.commit()
            console.print(f"requeued {count} deliveries; the next publish retries them")
            return
        rows = dead_letters(session=session, limit=1000, sink=sink)
    if as_json:
        echo_json([dataclasses.asdict(r) for r in rows], indent=2)
        return
    table = Table("delivery", "sink", "story", "revision", "attempts", "last error")
    for row in rows:
        table.add_row(
            str(row.delivery_id), row.sink, row.story_id, str(row.revision), str(row.attempts),
            (row.last_error or "")[:60],
        )  # fmt: skip
    console.print(table)


@app.command("consume")
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
