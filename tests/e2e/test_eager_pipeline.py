"""Eager end to end: feed files and a local HTTP feed in, schema-valid stories with profiles out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from sqlmodel import select

from newsworker.config.settings import load_settings
from newsworker.stages.enrich.profiles import ProfilePolicy
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import ArticleRecord, Story
from newsworker.storage.profiles import import_profiles
from newsworker.tasks.pipeline import refresh_profile_stories
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.cli.profiles import import_profiles_file
from newsworker.worker.running import run_once
from tests.support.http import LocalHTTPServer, Response
from tests.support.paths import SAMPLES
from tests.support.schema import assert_valid_story

LIVE_FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Live</title><link>http://127.0.0.1/</link>
<item><title>OPEC meets</title><link>/energy/opec?utm_source=x</link><guid>live-1</guid>
<pubDate>Mon, 27 Oct 2025 10:00:00 GMT</pubDate>
<description>&lt;p&gt;OPEC agreed to keep output unchanged, ministers said.&lt;/p&gt;
</description></item>
</channel></rss>"""


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'e2e.db'}",
        broker_url=None,
        redis_url=None,
        jsonl_path=tmp_path / "stories.jsonl",
        allow_file_urls=True,
        allow_private_addresses=True,
    )


def test_feeds_in_enriched_stories_out(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    settings = _settings(tmp_path)
    upgrade(settings.database_url)
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    import_profiles_file(
        settings, SAMPLES / "profiles.jsonl", strict=True, fmt="jsonl", console=console
    )
    http_server.route(
        "/feed.xml", Response(200, {"Content-Type": "application/rss+xml"}, LIVE_FEED)
    )
    with session_for(settings.database_url) as session:
        for path in sorted((SAMPLES / "feeds").iterdir()):
            feed_store.add_feed(session=session, url=path.resolve().as_uri())
        feed_store.add_feed(session=session, url=http_server.url("/feed.xml"))
        session.commit()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        first = run_once(runtime, all_feeds=True)
        assert first.feeds == 4
        assert first.errors == 0
        assert first.new_stories >= 12
        # The syndicated copy of the Xi/Lee story joins its cluster instead of becoming a new story.
        assert first.duplicates >= 1
        lines = (tmp_path / "stories.jsonl").read_text(encoding="utf-8").splitlines()
        stories = [json.loads(line) for line in lines]
        assert len(stories) == first.published
        for story in stories:
            assert_valid_story(story)
        by_title = {s["article"]["title"]: s for s in stories if s["event"] == "created"}
        seed = by_title[
            "Xi and Lee Seek to Restore China-South Korea Relations: APEC Talks Set the Stage"
        ]
        ids = [e["id"] for e in seed["entities"]]
        assert "Q15031" in ids and "Q170481" in ids
        assert "About the People Mentioned" in seed["rendered"]
        assert "About the Organizations Mentioned" in seed["rendered"]
        # The orphan citation marker is gone, tracking parameters are stripped, scripts are dropped.
        assert "[1]" not in seed["article"]["text"]
        assert "utm_" not in (seed["article"]["canonical_url"] or "")
        assert "<script" not in seed["article"]["content_html"]
        assert "onclick" not in seed["article"]["content_html"]
        for entity in seed["entities"]:
            for mention in entity["mentions"]:
                assert seed["article"]["text"][mention["start"] : mention["end"]] == mention["text"]
        updates = [
            s for s in stories if s["story_id"] == seed["story_id"] and s["event"] == "updated"
        ]
        assert updates and updates[-1]["also_reported_by"]

        # A second round publishes nothing: re-polls are idempotent.
        second = run_once(runtime, all_feeds=True)
        assert second.new_stories == 0 and second.updated == 0 and second.published == 0
        assert len((tmp_path / "stories.jsonl").read_text(encoding="utf-8").splitlines()) == len(
            lines
        )

        # Story ids are stable: the same article keeps the same id in the store.
        with session_for(settings.database_url) as session:
            story_ids = {row.story_id for row in session.exec(select(Story)).all()}
            article_ids = {row.story_id for row in session.exec(select(ArticleRecord)).all()}
        assert {s["story_id"] for s in stories} == story_ids
        assert article_ids == story_ids
    finally:
        set_runtime(None)


def test_updated_entry_is_an_update_of_the_same_story(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    settings = _settings(tmp_path)
    upgrade(settings.database_url)
    body = {"feed": LIVE_FEED}
    http_server.route(
        "/feed.xml", lambda _r: Response(200, {"Content-Type": "application/rss+xml"}, body["feed"])
    )
    with session_for(settings.database_url) as session:
        feed_store.add_feed(session=session, url=http_server.url("/feed.xml"))
        session.commit()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        assert run_once(runtime, all_feeds=True).new_stories == 1
        body["feed"] = LIVE_FEED.replace(
            b"keep output unchanged", b"cut output by a million barrels"
        )
        summary = run_once(runtime, all_feeds=True)
        assert summary.updated == 1 and summary.new_stories == 0
        stories = [json.loads(x) for x in (tmp_path / "stories.jsonl").read_text().splitlines()]
        assert [s["event"] for s in stories] == ["created", "updated"]
        assert stories[0]["story_id"] == stories[1]["story_id"]
        assert [s["revision"] for s in stories] == [1, 2]
        for story in stories:
            assert_valid_story(story)
    finally:
        set_runtime(None)


def test_a_changed_profile_republishes_recent_stories(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    settings = _settings(tmp_path)
    upgrade(settings.database_url)
    opec = {
        "id": "Q7795", "type": "organization", "name": "OPEC", "aliases": [],
        "summary": "OPEC is a cartel of oil producers.",
        "sources": [{"title": "OPEC", "url": "https://en.wikipedia.org/wiki/OPEC"}],
    }  # fmt: skip
    with session_for(settings.database_url) as session:
        import_profiles(session=session, lines=[json.dumps(opec)], fmt="jsonl", strict=True,
                        policy=ProfilePolicy())  # fmt: skip
        session.commit()
        http_server.route(
            "/feed.xml", Response(200, {"Content-Type": "application/rss+xml"}, LIVE_FEED)
        )
        feed_store.add_feed(session=session, url=http_server.url("/feed.xml"))
        session.commit()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        assert run_once(runtime, all_feeds=True).new_stories == 1
        assert refresh_profile_stories(runtime.context, window=timedelta(days=7)) == 0
        opec["summary"] = "OPEC, founded in 1960 in Baghdad, coordinates oil output [1]."
        with session_for(settings.database_url) as session:
            import_profiles(session=session, lines=[json.dumps(opec)], fmt="jsonl", strict=True,
                            policy=ProfilePolicy())  # fmt: skip
            session.commit()
        runtime.matchers.check_every_seconds = 0
        assert refresh_profile_stories(runtime.context, window=timedelta(days=7)) == 1
        run_once(runtime)
        stories = [json.loads(x) for x in (tmp_path / "stories.jsonl").read_text().splitlines()]
        assert [(s["event"], s["revision"]) for s in stories] == [("created", 1), ("updated", 2)]
        first, second = (s["entities"][0]["profile"] for s in stories)
        assert first["version"] != second["version"]
        assert second["summary"].startswith("OPEC, founded in 1960")
        for story in stories:
            assert_valid_story(story)
        # Nothing left to refresh once the story carries the current version.
        assert refresh_profile_stories(runtime.context, window=timedelta(days=7)) == 0
    finally:
        set_runtime(None)
