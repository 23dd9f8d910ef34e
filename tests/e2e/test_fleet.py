"""A real fleet end to end: Celery worker, Redis broker and stream, PostgreSQL, an HTTP feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.support.fleet import fleet_env, run_cli, start_worker, wait_for
from tests.support.http import LocalHTTPServer, Response
from tests.support.paths import SAMPLES
from tests.support.schema import assert_valid_story

pytestmark = [pytest.mark.fleet, pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def test_worker_polls_and_publishes_to_the_stream(
    tmp_path: Path, http_server: LocalHTTPServer, redis_url: str, postgres_url: str
) -> None:
    feed = (SAMPLES / "feeds" / "asia-politics.rss").read_bytes()
    http_server.route(
        "/asia.rss", Response(200, {"Content-Type": "application/rss+xml; charset=utf-8"}, feed)
    )
    stream = "test:fleet:stories"
    env = fleet_env(
        database_url=postgres_url,
        broker_url=redis_url,
        redis_url=redis_url,
        stream_name=stream,
        jsonl_path=str(tmp_path / "stories.jsonl"),
        allow_private_addresses="true",
    )
    run_cli(env, "db", "upgrade")
    run_cli(env, "profiles", "import", str(SAMPLES / "profiles.jsonl"))
    run_cli(env, "feeds", "add", http_server.url("/asia.rss"))
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        out = run_cli(env, "dispatch", "--all")
        assert "enqueued 1 polls" in out.stdout
        client = redis.Redis.from_url(redis_url)
        arrived = wait_for(lambda: client.xlen(stream) >= 4, timeout=60)
        assert arrived, f"stories did not reach the stream; worker log:\n{worker.output()[-4000:]}"
        entries = client.xrange(stream)
        payloads = [json.loads(fields[b"payload"]) for _id, fields in entries]
        for payload in payloads:
            assert_valid_story(payload)
        seed = next(p for p in payloads if p["article"]["title"].startswith("Xi and Lee"))
        assert {"Q15031", "Q170481"} <= {e["id"] for e in seed["entities"]}
        assert len({p["story_id"] for p in payloads}) == len(payloads)
        client.close()
    finally:
        code = worker.stop()
    assert code is not None
