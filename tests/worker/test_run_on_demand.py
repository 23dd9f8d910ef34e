"""`newsworker run` starts its helpers only for work: an unchanged round forks nothing.

An unchanged round (every feed answers 304) should cost little more than its conditional GETs:
no prepare processes, no publisher process, no language model. A round with new entries still
starts them and publishes every story once.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

import newsworker.stages.normalize.language as language
from bench.corpus import generate_corpus
from newsworker.config.settings import Settings, load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.running import RunSummary, run_once
from tests.support.http import LocalHTTPServer, Request, Response

FEEDS = 4
BODIES = generate_corpus(FEEDS * 50, seed=11)

# Forks made by this process, counted by the interpreter itself (a fork hook cannot be removed,
# so it is registered once and the tests read differences).
_forks = [0]
os.register_at_fork(after_in_parent=lambda: _forks.__setitem__(0, _forks[0] + 1))


def _serve(server: LocalHTTPServer, number: int) -> None:
    etag = f'"feed-{number}"'

    def handler(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(304, headers={"ETag": etag})
        headers = {"ETag": etag, "Content-Type": "application/rss+xml"}
        return Response(200, headers=headers, body=BODIES[number])

    server.route(f"/feed/{number}", handler)


def _round(settings: Settings) -> tuple[RunSummary, int]:
    runtime = build_runtime(settings)
    set_runtime(runtime)
    before = _forks[0]
    summary = run_once(runtime, all_feeds=True, console=Console(file=io.StringIO()))
    return summary, _forks[0] - before


def test_an_unchanged_round_starts_no_prepare_process_no_publisher_and_no_model(
    tmp_path: Path, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        broker_url=None,
        redis_url=None,
        jsonl_path=tmp_path / "stories.jsonl",
        allow_private_addresses=True,
        host_requests_per_second_overrides={"127.0.0.1": 1000.0},
        prepare_processes=2,
    )
    upgrade(settings.database_url)
    with session_for(settings.database_url) as session:
        for number in range(FEEDS):
            _serve(http_server, number)
            feed_store.add_feed(session=session, url=http_server.url(f"/feed/{number}"))
        session.commit()

    first, forks = _round(settings)
    assert first.new_stories > 0 and first.errors == 0
    assert forks >= 3  # two prepare processes and the publisher

    monkeypatch.setattr(language, "_identifier", None)  # as in a fresh process
    second, forks = _round(settings)
    assert second.not_modified == FEEDS and second.new_stories == 0
    assert forks == 0
    assert language._identifier is None
