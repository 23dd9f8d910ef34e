"""`newsworker demo`: the whole pipeline on the embedded default, no Redis, no network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from sqlmodel import col, select

from newsworker.config.settings import Settings, load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Story
from newsworker.storage.story_payloads import story_payloads
from newsworker.worker.cli.context import console, settings
from newsworker.worker.cli.profiles import import_profiles_file
from newsworker.worker.cli.runtime import runtime_for
from newsworker.worker.running import run_once

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

app = typer.Typer(add_completion=False)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Where the demo keeps its store and output.")] = Path(
        ".newsworker"
    ),
    quiet: Annotated[bool, typer.Option(help="Print only the summary.")] = False,
) -> None:
    """Import sample profiles, poll the bundled feeds once (eager, SQLite), show the stories."""
    settings(logs="quiet")
    run_demo(folder=folder, console=console, show_stories=not quiet)


def demo_settings(folder: Path) -> Settings:
    """Embedded settings for the demo, whatever the environment says about brokers and stores."""
    folder = folder.resolve()
    return load_settings(
        database_url=f"sqlite:///{folder / 'demo.db'}",
        broker_url=None,
        redis_url=None,
        jsonl_path=folder / "stories.jsonl",
        allow_file_urls=True,
        webhooks=[],
    )


def run_demo(*, folder: Path, console: Console, show_stories: bool = True) -> None:
    """Import the sample profiles, register the sample feeds, poll once and print the stories."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = demo_settings(folder)
    upgrade(cfg.database_url)
    report = import_profiles_file(
        cfg, SAMPLES / "profiles.jsonl", strict=False, fmt="jsonl", console=console
    )
    console.print(
        f"profiles: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged",
        highlight=False,
    )
    with session_for(cfg.database_url) as session:
        for path in sorted((SAMPLES / "feeds").iterdir()):
            feed_store.add_feed(session=session, url=path.resolve().as_uri())
        session.commit()
    summary = run_once(runtime_for(cfg), all_feeds=True, console=console)
    if show_stories:
        with session_for(cfg.database_url) as session:
            stories = session.exec(
                select(Story).order_by(col(Story.created_at), col(Story.story_id))
            ).all()
            payloads = story_payloads(session=session, story_ids=[s.story_id for s in stories])
            for story in stories:
                payload = payloads[story.story_id]
                feed_name = payload["article"]["feed"]["url"].rsplit("/", 1)[-1]
                subtitle = f"story {story.story_id} · revision {story.revision} · {feed_name}"
                console.print(
                    Panel(
                        payload["rendered"],
                        title=payload["article"]["title"][:70],
                        subtitle=subtitle,
                    )
                )
    console.print(summary.table())
    console.print(
        f"store: {cfg.database_url}\nstories (JSON Lines): {cfg.jsonl_path}",
        highlight=False,
    )
