"""Redis (broker and stream) restarted mid-run: workers reconnect by themselves, nothing is lost."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from tests.faults.corpus import (
    assert_each_entry_one_story,
    enqueue_polls,
    feed_ids,
    register_feeds,
    send_task,
    serve_corpus,
    store_state,
    stream_events,
    worker_env,
)
from tests.support.fleet import run_cli, start_worker, wait_for
from tests.support.http import LocalHTTPServer
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.fleet, pytest.mark.postgres, pytest.mark.slow]
FEEDS, ENTRIES = 10, 5
DOWN_SECONDS = 3


def test_redis_restart_mid_run_workers_reconnect_and_the_outbox_holds_the_rest(
    tmp_path: Path, http_server: LocalHTTPServer, postgres_url: str, own_redis: RedisServer
) -> None:
    urls = serve_corpus(http_server, FEEDS, ENTRIES, delay_seconds=0.3)
    broker = own_redis.url(0)
    env = worker_env(postgres_url, broker, tmp_path, visibility_timeout_seconds="60")
    run_cli(env, "db", "upgrade")
    register_feeds(postgres_url, urls)
    ids = feed_ids(postgres_url)
    worker = start_worker(env, tmp_path / "worker.log", "--without-mingle", "--without-gossip")
    try:
        enqueue_polls(broker, ids)
        assert wait_for(lambda: len(store_state(postgres_url).stories) >= ENTRIES, timeout=20)
        own_redis.restart(down_seconds=DOWN_SECONDS)
        restarted_at = time.monotonic()

        def settled() -> bool:
            state = store_state(postgres_url)
            if len(state.stories) == FEEDS * ENTRIES and state.unsent == 0:
                return True
            with contextlib.suppress(Exception):  # Redis may still be coming back
                send_task(broker, "newsworker.publish_pending")  # as beat does every 5 s
            return False

        if not wait_for(settled, timeout=15, interval=1.0):
            # Polls cancelled at the connection loss come back after the visibility timeout, or
            # at once on re-dispatch.
            run_cli(env, "dispatch", "--all")
        assert wait_for(settled, timeout=30, interval=1.0), worker.output()[-3000:]
        recovery = time.monotonic() - restarted_at
        figures = assert_each_entry_one_story(
            store_state(postgres_url), stream_events(broker), FEEDS * ENTRIES
        )
        assert worker.popen.poll() is None, "the worker died instead of reconnecting"
    finally:
        worker.stop()
    print(f"down={DOWN_SECONDS}s recovery={recovery:.1f}s {figures}")
