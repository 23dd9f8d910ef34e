"""PostgreSQL unreachable mid-run (a TCP proxy cut for 30 s): polls fail, retry and finish."""

from __future__ import annotations

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
from tests.support.proxy import TCPProxy

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
]
FEEDS, ENTRIES = 10, 5
# Long enough that every poll in the window fails at least once and goes to Celery's retry
# (backoff 5 s, jitter); the 30 s of the issue adds only waiting, not another code path.
DOWN_SECONDS = 30


def test_database_down_polls_retry_and_finish_with_nothing_lost(
    tmp_path: Path, http_server: LocalHTTPServer, redis_url: str, postgres_url: str
) -> None:
    urls = serve_corpus(http_server, FEEDS, ENTRIES)
    run_cli(worker_env(postgres_url, redis_url, tmp_path), "db", "upgrade")
    register_feeds(postgres_url, urls)
    ids = feed_ids(postgres_url)
    with TCPProxy("127.0.0.1", 5432) as proxy:
        proxied = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert proxied != postgres_url
        env = worker_env(
            proxied,
            redis_url,
            tmp_path,
            visibility_timeout_seconds="120",
            task_soft_time_limit_seconds="30",
            task_time_limit_seconds="40",
        )
        worker = start_worker(env, tmp_path / "worker.log", "--without-mingle", "--without-gossip")
        try:
            proxy.cut()
            cut_at = time.monotonic()
            enqueue_polls(redis_url, ids)
            wait_for(lambda: "Retry in" in worker.output(), timeout=DOWN_SECONDS)
            time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - cut_at)))
            assert store_state(postgres_url).stories == {}
            proxy.restore()
            restored_at = time.monotonic()

            def settled() -> bool:
                state = store_state(postgres_url)
                if len(state.stories) == FEEDS * ENTRIES and state.unsent == 0:
                    return True
                send_task(redis_url, "newsworker.publish_pending")  # as beat does every 5 s
                return False

            assert wait_for(settled, timeout=60, interval=1.0), worker.output()[-3000:]
            recovery = time.monotonic() - restored_at
            figures = assert_each_entry_one_story(
                store_state(postgres_url), stream_events(redis_url), FEEDS * ENTRIES
            )
            retries = worker.output().count("Retry in")
            assert retries > 0, "no poll was retried while the database was down"
        finally:
            worker.stop()
    assert proxy.refused > 0
    print(f"down={DOWN_SECONDS}s retries={retries} recovery={recovery:.1f}s {figures}")
