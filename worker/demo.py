"""`newsworker demo`: the whole pipeline on the embedded default, no Redis, no network."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from sqlmodel import col, select

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Story
from newsworker.storage.outbox import story_payloads
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.profile_admin import import_profiles_file
from newsworker.worker.running import run_once

SAMPLES = Path(__file__).resolve().parent / "samples"


def demo_settings(folder: Path):  # type: ignore[no-untyped-def]
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
    settings = demo_settings(folder)
    upgrade(settings.database_url)
    report = import_profiles_file(
        settings, SAMPLES / "profiles.jsonl", strict=False, fmt="jsonl", console=console
    )
    console.print(
        f"profiles: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged",
        highlight=False,
    )
    with session_for(settings.database_url) as session:
        for path in sorted((SAMPLES / "feeds").iterdir()):
            feed_store.add_feed(session=session, url=path.resolve().as_uri())
        session.commit()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    summary = run_once(runtime, all_feeds=True, console=console)
    if show_stories:
        with session_for(settings.database_url) as session:
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
        f"store: {settings.database_url}\nstories (JSON Lines): {settings.jsonl_path}",
        highlight=False,
    )
