"""Within one feed, entries with different links are different stories, however alike their text.

Yearly event announcements and listings built from one template read nearly the same; the
feed gives each its own link and date. Text similarity still joins copies across feeds.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlmodel import select

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Story
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.running import RunSummary, run_once

FAIR = (
    "The Annual Spring Fair returns to Riverside Park on the first weekend of May {year}. "
    "Local growers, bakers and craftspeople will fill more than eighty stalls, the brass band "
    "plays on the bandstand both afternoons, and the children's tent offers face painting, "
    "pony rides and a treasure hunt. Entry is free; parking at the leisure centre costs three "
    "pounds for the day. Volunteers who want to help set up should contact the parish office."
)
LISTING = (
    "For sale: {item}. Good condition, collection only from the north side of town. Cash on "
    "collection, no offers, no time wasters please. Viewing by appointment on weekday evenings "
    "and Saturday mornings. Message through the classifieds page for the address and a time "
    "that suits. Listed by a private seller; the advertiser accepts no returns after sale."
)


def _item(title: str, link: str, date: str, text: str) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{date}</pubDate><description>&lt;p&gt;{text}&lt;/p&gt;</description></item>"
    )


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Town news</title>'
        f"<link>https://town.example.org/</link>{''.join(items)}</channel></rss>"
    ).encode()


FAIR_2025 = _item(
    "Annual Spring Fair 2025",
    "https://town.example.org/events/spring-fair-2025",
    "Mon, 14 Apr 2025 09:00:00 GMT",
    FAIR.format(year=2025),
)
FAIR_2026 = _item(
    "Annual Spring Fair 2026",
    "https://town.example.org/events/spring-fair-2026",
    "Mon, 13 Apr 2026 09:00:00 GMT",
    FAIR.format(year=2026),
)
LISTINGS = [
    _item(
        f"For sale: {item}",
        f"https://town.example.org/classifieds/{number}",
        f"Tue, 0{number} Dec 2026 08:00:00 GMT",
        LISTING.format(item=item),
    )
    for number, item in enumerate(("oak table", "oak chairs", "oak dresser"), start=1)
]


class Store:
    """A SQLite store with file:// feeds, polled by `newsworker run --once --all`."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'store.db'}",
            broker_url=None,
            redis_url=None,
            jsonl_path=tmp_path / "stories.jsonl",
            allow_file_urls=True,
            allow_private_addresses=True,
            prepare_processes=0,
        )
        upgrade(self.settings.database_url)

    def feed(self, name: str, body: bytes) -> None:
        path = self.tmp_path / name
        path.write_bytes(body)
        with session_for(self.settings.database_url) as session:
            feed_store.add_feed(session=session, url=path.as_uri())
            session.commit()

    def run(self) -> RunSummary:
        runtime = build_runtime(self.settings)
        set_runtime(runtime)
        try:
            return run_once(runtime, all_feeds=True, console=Console(file=io.StringIO()))
        finally:
            set_runtime(None)

    def stories(self) -> int:
        with session_for(self.settings.database_url) as session:
            return len(session.exec(select(Story)).all())

    def events(self) -> list[dict[str, Any]]:
        text = (self.tmp_path / "stories.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


def test_yearly_announcements_in_one_poll_are_two_stories(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.feed("town.xml", _rss(FAIR_2026, FAIR_2025))
    summary = store.run()
    assert (summary.new_stories, summary.duplicates) == (2, 0)
    assert store.stories() == 2


def test_next_years_announcement_in_a_later_poll_is_a_new_story(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.feed("town.xml", _rss(FAIR_2025))
    assert store.run().new_stories == 1
    (tmp_path / "town.xml").write_bytes(_rss(FAIR_2026, FAIR_2025))
    summary = store.run()
    assert (summary.new_stories, summary.duplicates) == (1, 0)
    created = [e["article"]["title"] for e in store.events() if e["event"] == "created"]
    assert created == ["Annual Spring Fair 2025", "Annual Spring Fair 2026"]
    assert not any(e["also_reported_by"] for e in store.events())


def test_listings_from_one_template_are_one_story_each(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.feed("classifieds.xml", _rss(*LISTINGS))
    summary = store.run()
    assert (summary.new_stories, summary.duplicates) == (3, 0)
    assert store.stories() == 3


def test_a_copy_in_another_feed_still_joins_the_story(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.feed("town.xml", _rss(FAIR_2026))
    # A listings site syndicates the announcement under its own link.
    copy = FAIR_2026.replace("town.example.org/events", "whatson.example.net/listing")
    store.feed("whatson.xml", _rss(copy))
    summary = store.run()
    assert (summary.new_stories, summary.duplicates) == (1, 1)
    assert store.stories() == 1
    updated = [e for e in store.events() if e["event"] == "updated"]
    assert updated and updated[-1]["also_reported_by"][0]["url"].startswith(
        "https://whatson.example.net/"
    )
