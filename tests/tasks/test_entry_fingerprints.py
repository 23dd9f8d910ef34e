"""Entries a changed feed already carried are recognised by fingerprint and not normalized again."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import newsworker.stages.prepare
from newsworker.config.settings import load_settings
from newsworker.stages.normalize import NormalizePolicy, entry_fingerprints
from newsworker.stages.records import RawEntry
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.running import run_once
from tests.support.http import LocalHTTPServer, Response
from tests.support.paths import REPO

ENTRY = RawEntry(
    guid="g-1",
    link="/a?utm_source=x",
    title="Title",
    summary_html="<p>Summary</p>",
    content_html="<p>Body ünïcode</p>",
    published_raw="Mon, 27 Oct 2025 10:00:00 GMT",
    published_at=datetime(2025, 10, 27, 10, tzinfo=UTC),
)
FEED = {"feed_url": "https://feeds.example/rss", "feed_language": "en", "guid_unstable": False}


def _fingerprint(entry: RawEntry = ENTRY, **overrides: Any) -> str:
    args = {**FEED, "policy": NormalizePolicy(), **overrides}
    return entry_fingerprints([entry], **args)[0]


def test_any_input_of_normalize_changes_the_fingerprint() -> None:
    base = _fingerprint()
    assert _fingerprint() == base
    for change in (
        {"guid": "g-2"},
        {"link": "/b"},
        {"title": "Title!"},
        {"content_html": "<p>Body</p>"},
        {"summary_html": None},
        {"published_raw": None},
        {"updated_at": datetime(2025, 10, 28, tzinfo=UTC)},
        {"language": "de"},
        {"author": "A. Writer"},
    ):
        assert _fingerprint(replace(ENTRY, **change)) != base, change
    assert _fingerprint(feed_url="https://other.example/rss") != base  # relative links resolve
    assert _fingerprint(feed_language="fr") != base
    assert _fingerprint(guid_unstable=True) != base  # keys fall back to links
    assert _fingerprint(policy=NormalizePolicy(max_text_chars=10)) != base


def test_fingerprint_is_the_same_in_another_process() -> None:
    # Worker children hash with different seeds: the fingerprint must not depend on hash().
    code = "from tests.tasks.test_entry_fingerprints import _fingerprint; print(_fingerprint())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = REPO
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True
    )
    assert out.stdout.strip() == _fingerprint()


def _rss(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>Story {guid}</title><link>/s/{guid}</link><guid>{guid}</guid>"
        f"<pubDate>Mon, 27 Oct 2025 10:00:00 GMT</pubDate><description>{text}</description></item>"
        for guid, text in items
    )
    channel = f"<channel><title>F</title>{body}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def test_a_changed_feed_normalizes_only_new_and_edited_entries(
    tmp_path: Path, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'fp.db'}",
        broker_url=None,
        redis_url=None,
        jsonl_path=tmp_path / "stories.jsonl",
        allow_private_addresses=True,
    )
    upgrade(settings.database_url)
    items = [("a", "First story text."), ("b", "Second story text."), ("c", "Third story.")]
    served = {"body": _rss(items)}
    # No ETag and a new body each time: the feed is fetched and parsed on every poll.
    http_server.route(
        "/feed.xml",
        lambda _r: Response(200, {"Content-Type": "application/rss+xml"}, served["body"]),
    )
    with session_for(settings.database_url) as session:
        feed_store.add_feed(session=session, url=http_server.url("/feed.xml"))
        session.commit()
    normalized: list[str] = []
    real_normalize = newsworker.stages.prepare.normalize_entry

    def counting_normalize(entry: RawEntry, **kwargs: Any) -> Any:
        normalized.append((entry.guid or "").rsplit("/", 1)[-1])
        return real_normalize(entry, **kwargs)

    monkeypatch.setattr(newsworker.stages.prepare, "normalize_entry", counting_normalize)
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        first = run_once(runtime, all_feeds=True)
        assert first.new_stories == 3 and normalized == ["a", "b", "c"]
        normalized.clear()
        # One new entry, one edited, one untouched (and the untouched one moved down).
        served["body"] = _rss(
            [("d", "Fourth story."), ("a", "First story, edited."), items[1], items[2]]
        )
        second = run_once(runtime, all_feeds=True)
        assert sorted(normalized) == ["a", "d"]
        assert second.new_stories == 1 and second.updated == 1
        assert second.outcomes[0].unchanged == 2
        normalized.clear()
        served["body"] += b" "  # same entries, different bytes: parsed, nothing normalized
        third = run_once(runtime, all_feeds=True)
        assert normalized == [] and third.new_stories == third.updated == 0
        assert third.outcomes[0].unchanged == 4
    finally:
        set_runtime(None)
