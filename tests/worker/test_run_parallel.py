"""`newsworker run` with prepare and publisher processes: the same stories as in one process.

The round stores feeds in order in one process whatever prepares them, so the stories, their
revisions, clusters and entities must come out exactly as a one-process round makes them; and
every event must reach the JSON Lines sink once, whichever process relayed it.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import newsworker.worker.prepare_pool as prepare_pool
from bench.bench_pipeline import mention_profiles, seed_store, synthetic_profile_rows
from bench.corpus import generate_corpus
from newsworker.config.settings import Settings, load_settings
from newsworker.stages.errors import ParseError
from newsworker.stages.prepare import PreparedFeed, PrepareJob
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.prepare_pool import PreparePool
from newsworker.worker.running import RunSummary, run_once

PROFILES = list(synthetic_profile_rows(300))
# 8 feeds of 50 entries, with syndicated copies and edited duplicates across feeds.
BODIES = mention_profiles(generate_corpus(400, seed=5), PROFILES)


def _round(tmp_path: Path, name: str, processes: int) -> tuple[RunSummary, list[dict[str, Any]]]:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / name}.db",
        broker_url=None,
        redis_url=None,
        jsonl_path=tmp_path / f"{name}.jsonl",
        allow_file_urls=True,
        allow_private_addresses=True,
        prepare_processes=processes,
    )
    # Both rounds read the same feed files: story ids and sources name the feed URL.
    seed_store(settings.database_url, BODIES, PROFILES, tmp_path)
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        summary = run_once(runtime, all_feeds=True, console=Console(file=io.StringIO()))
    finally:
        set_runtime(None)
    return summary, _lines(settings)


def _lines(settings: Settings) -> list[dict[str, Any]]:
    assert settings.jsonl_path is not None
    text = Path(settings.jsonl_path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _story_view(lines: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {
        (
            line["story_id"],
            line["revision"],
            line["event"],
            line["article"]["canonical_url"],
            tuple(e["id"] for e in line["entities"]),
            tuple(s["url"] for s in line["also_reported_by"]),
        )
        for line in lines
    }


def test_a_parallel_round_makes_the_stories_of_a_one_process_round(tmp_path: Path) -> None:
    one, one_lines = _round(tmp_path, "one", processes=0)
    many, many_lines = _round(tmp_path, "many", processes=2)
    assert one.new_stories > 300 and one.duplicates > 0 and one.entities > 0
    for name in ("feeds", "entries", "new_stories", "duplicates", "entities", "errors"):
        assert getattr(many, name) == getattr(one, name), name
    # Every event published once, by the publisher process or the round's own relay pass.
    assert many.published == one.published == len(many_lines) == len(one_lines)
    keys = [line["idempotency_key"] for line in many_lines]
    assert len(keys) == len(set(keys))
    assert _story_view(many_lines) == _story_view(one_lines)


def _job(body: bytes) -> PrepareJob:
    return PrepareJob(
        body=body,
        body_url="https://news.example.org/feed.xml",
        content_type="application/rss+xml",
        feed_url="https://news.example.org/feed.xml",
        feed_language=None,
        guid_unstable=False,
        known_fingerprints=frozenset(),
        max_entries=1000,
        discovered_at=datetime.now(UTC),
    )


_real_prepare = prepare_pool.prepare_feed


def _dies_on_a_marked_body(job: PrepareJob, matcher: Any = None) -> PreparedFeed:
    if b"KILL-THE-PROCESS" in job.body:
        os._exit(3)  # as a crash in a C parser would end it: no exception, no clean-up
    return _real_prepare(job, matcher)


def test_a_body_that_kills_its_process_fails_only_its_own_feed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prepare_pool, "prepare_feed", _dies_on_a_marked_body)
    good_body = BODIES[0]
    with PreparePool(1) as pool:  # forked after the patch: the children run it too
        bad = pool.submit(_job(good_body.replace(b"<channel>", b"<channel>KILL-THE-PROCESS", 1)))
        good = pool.submit(_job(good_body))
        with pytest.raises(ParseError, match="died on its body"):
            bad()
        # In the pool when it broke, so retried alone: it comes through.
        assert len(good().articles) == 50
        assert len(pool.submit(_job(good_body))().articles) == 50  # new processes serve on
