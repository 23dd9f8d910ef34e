"""Hostile feed servers on 127.0.0.1 next to healthy feeds, through the real pipeline.

For each hostile feed: the process survives, the feed gets a recorded error (or, when the input
is only big, it is processed within caps), no local file content reaches a story, the healthy
feeds keep flowing, and memory stays bounded.
"""

from __future__ import annotations

import dataclasses
import json
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsworker.config.settings import load_settings
from newsworker.stages.fetch import Fetcher
from newsworker.storage.db import create_db_engine
from newsworker.storage.feeds import add_feed
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import ArticleRecord, Feed, FeedErrorRecord, Story
from newsworker.storage.story_payloads import story_payloads
from newsworker.tasks.runtime import build_runtime, fetch_policy
from newsworker.worker.running import run_once
from tests.hostile.feeds import RSS, SECRET, PrivateTarget, healthy_feed, serve_hostile
from tests.support.http import LocalHTTPServer, Response

HEALTHY = ("alpha", "bravo", "charlie")
# Inputs that are only big or odd but valid: processed, within the caps.
BIG_BUT_VALID = {"entry_20mb", "invalid_utf8", "rss_as_image_png"}
# Entity attacks: the parse stage drops the declarations before any XML parser sees them, so the
# entry is stored with the references unexpanded (no expansion, no fetch, no file read).
DEFUSED = {
    "billion_laughs",
    "quadratic_blowup",
    "external_entity",
    "parameter_entity",
    "xxe_local_file",
}
MAX_TEXT_CHARS = 100_000
MAX_ENTRIES = 1000


def _loopback_only_127_0_0_1(address: str) -> bool:
    """The network model: 127.0.0.1 is "public" here, every other address is private."""
    return address == "127.0.0.1"


def http_server_hits(server: LocalHTTPServer, path: str) -> int:
    """How many requests server received for path."""
    return sum(1 for r in server.requests if r.path.split("?")[0] == path)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def private_target() -> Iterator[PrivateTarget]:
    target = PrivateTarget()
    yield target
    target.stop()


def test_hostile_feeds_get_errors_and_healthy_feeds_keep_flowing(
    tmp_path: Path, http_server: LocalHTTPServer, private_target: PrivateTarget
) -> None:
    canary = tmp_path / "canary-secret.txt"
    canary.write_text(SECRET)
    hostile = serve_hostile(http_server, canary, private_target)
    for name in HEALTHY:
        http_server.route(f"/healthy/{name}.rss", Response(200, RSS, healthy_feed(name)))
    database_url = f"sqlite:///{tmp_path / 'hostile.db'}"
    jsonl = tmp_path / "stories.jsonl"
    settings = load_settings(
        database_url=database_url,
        broker_url=None,
        redis_url=None,
        jsonl_path=str(jsonl),
        host_requests_per_second=1000,
        read_timeout_seconds=2,
        total_timeout_seconds=3,
        max_body_bytes=24 * 1024 * 1024,
        max_text_chars=MAX_TEXT_CHARS,
    )
    upgrade(database_url)
    runtime = build_runtime(settings)
    # The private-address guard stays on: only 127.0.0.1 counts as public in this network.
    fetcher = Fetcher(fetch_policy(settings), address_allowed=_loopback_only_127_0_0_1)
    runtime.context = dataclasses.replace(
        runtime.context, fetcher=fetcher, max_entries_per_poll=MAX_ENTRIES
    )
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        for url in [*hostile.values(), *(http_server.url(f"/healthy/{n}.rss") for n in HEALTHY)]:
            add_feed(session=session, url=url)
        session.commit()

    before_mb = _peak_rss_mb()
    summary = run_once(runtime, all_feeds=True)
    growth_mb = _peak_rss_mb() - before_mb
    fetcher.close()

    with Session(engine) as session:
        feeds = {f.url: f for f in session.exec(select(Feed)).all()}
        errors = {
            feeds_by_id.url: e.kind
            for feeds_by_id in feeds.values()
            for e in session.exec(
                select(FeedErrorRecord).where(FeedErrorRecord.feed_id == feeds_by_id.id)
            ).all()
        }
        stories = session.exec(select(Story)).all()
        articles = session.exec(select(ArticleRecord)).all()
        per_feed = {
            url: sum(1 for a in articles if a.feed_id == feed.id) for url, feed in feeds.items()
        }
    engine.dispose()

    report = {
        name: (feeds[url].last_error or "", errors.get(url), per_feed[url])
        for name, url in hostile.items()
    }
    for name, row in report.items():
        print(f"{name:22} stored={row[2]:6} error={row[1]} {row[0][:90]}")
    print(
        f"feeds={summary.feeds} new={summary.new_stories} errors={summary.errors} "
        f"published={summary.published} rss_growth_mb={growth_mb:.0f} seconds={summary.seconds:.1f}"
    )

    for name in HEALTHY:
        assert per_feed[http_server.url(f"/healthy/{name}.rss")] == 3, name
    for name, url in hostile.items():
        if name in BIG_BUT_VALID | DEFUSED:
            assert per_feed[url] >= 1, f"{name}: nothing stored; {feeds[url].last_error}"
            assert not feeds[url].last_error, f"{name}: {feeds[url].last_error}"
        elif name == "entries_50000":
            assert per_feed[url] == MAX_ENTRIES
            assert errors.get(url) == "entries_capped"
        else:
            assert feeds[url].last_error, f"{name}: no error recorded"
            assert per_feed[url] == 0, name
    assert private_target.hits == 0, "the redirect reached the private address"
    assert http_server_hits(http_server, "/canary.txt") == 0, "an external entity was fetched"
    assert summary.feeds == len(hostile) + len(HEALTHY)

    published = jsonl.read_text()
    assert SECRET not in published
    with Session(engine) as session:
        payloads = story_payloads(session=session, story_ids=[s.story_id for s in stories])
    assert len(payloads) == len(stories)
    for payload in payloads.values():
        text = json.dumps(payload)
        assert SECRET not in text
        assert "lollollol" not in text and "xxxxxxxxxx" not in text, "an entity was expanded"
        assert len(payload["article"]["text"]) <= MAX_TEXT_CHARS
        # Entry HTML is cut to 4x the text cap before sanitizing; the sanitizer adds little.
        assert len(payload["article"]["content_html"]) <= 8 * MAX_TEXT_CHARS
    # Measured about 180 MB, most of it the 20 MB content field as parsed bytes and strings (its
    # HTML is cut to the cap before sanitizing; 380 MB before that cut).
    assert growth_mb < 300, f"peak RSS grew by {growth_mb:.0f} MB"
