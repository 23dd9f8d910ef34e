"""SIGTERM on a real worker in the middle of a slow poll: it finishes the task and loses nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from newsworker.config.settings import load_settings
from newsworker.storage.db import create_db_engine
from newsworker.worker.app import create_app
from tests.support.fleet import fleet_env, run_cli, start_worker, wait_for
from tests.support.http import LocalHTTPServer, Request, Response
from tests.support.paths import SAMPLES

pytestmark = [pytest.mark.fleet, pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]
SLOW_SECONDS = 4.0


def test_sigterm_finishes_the_poll_in_hand_and_exits(
    tmp_path: Path, http_server: LocalHTTPServer, redis_url: str, postgres_url: str
) -> None:
    feed = (SAMPLES / "feeds" / "asia-politics.rss").read_bytes()

    def slow_feed(_request: Request) -> Response:
        time.sleep(SLOW_SECONDS)
        return Response(200, {"Content-Type": "application/rss+xml; charset=utf-8"}, feed)

    http_server.route("/slow.rss", slow_feed)
    env = fleet_env(
        database_url=postgres_url,
        broker_url=redis_url,
        redis_url=redis_url,
        stream_name="test:shutdown:stories",
        jsonl_path=str(tmp_path / "stories.jsonl"),
        allow_private_addresses="true",
    )
    run_cli(env, "db", "upgrade")
    run_cli(env, "feeds", "add", "--no-check", http_server.url("/slow.rss"))
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        # What beat does: send dispatch_due_feeds; the worker claims the feed and enqueues its poll.
        send_dispatch(redis_url)
        assert wait_for(lambda: bool(http_server.requests), timeout=30), worker.output()[-3000:]
        sent_at = time.monotonic()
        os.kill(worker.popen.pid, signal.SIGTERM)  # like `docker stop`: the main process only
        worker.popen.wait(60)
        waited = time.monotonic() - sent_at
    finally:
        code = worker.stop(timeout=10)
    log = worker.output()
    assert code == 0, log[-3000:]
    assert "worker shutting down" in log
    assert waited >= SLOW_SECONDS - 1.5, "the worker did not wait for the poll in hand"

    engine = create_db_engine(postgres_url, pool=False)
    with engine.connect() as connection:
        articles = connection.execute(text("SELECT count(*) FROM articles")).scalar_one()
        stories = connection.execute(text("SELECT count(*) FROM stories")).scalar_one()
        polled = connection.execute(text("SELECT last_success_at FROM feeds")).scalar_one()
    engine.dispose()
    assert articles > 0 and stories > 0, log[-3000:]
    assert polled is not None

    # Nothing half-done is left behind: the poll was acked, no task waits unacknowledged.
    client = redis.Redis.from_url(redis_url)
    assert client.llen("poll") == 0
    assert client.hlen("unacked") == 0
    client.close()


def send_dispatch(broker_url: str) -> None:
    """Send newsworker.dispatch_due_feeds(all_feeds=True) through the real broker."""

    app = create_app(load_settings(broker_url=broker_url))
    try:
        app.send_task("newsworker.dispatch_due_feeds", kwargs={"all_feeds": True})
    finally:
        app.close()
