"""Sinks against real services: a JSONL file, real Redis, a real local webhook receiver."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import redis

from newsworker.stages.publish.signing import sign
from newsworker.stages.publish.sinks import (
    JsonlFileSink,
    RedisStreamSink,
    WebhookSink,
    verify_signature,
)
from newsworker.stages.records import OutboxEventData
from tests.support.http import LocalHTTPServer, Request, Response
from tests.support.schema import assert_valid_story, example_story

SECRET = "s3cret-s3cret-s3cret"


def events(count: int, *, start: int = 0) -> list[OutboxEventData]:
    """Outbox event records around valid example stories."""
    out = []
    for n in range(start, start + count):
        payload = example_story(n=n)
        out.append(
            OutboxEventData(
                id=n + 1,
                story_id=payload["story_id"],
                revision=1,
                event="created",
                idempotency_key=payload["idempotency_key"],
                payload_json=json.dumps(payload),
                created_at=datetime.now(UTC),
            )
        )
    return out


def test_jsonl_sink_appends_one_valid_line_per_event(tmp_path: Path) -> None:
    path = tmp_path / "out" / "stories.jsonl"
    sink = JsonlFileSink(path)
    assert all(o.ok for o in sink.send(events(2)))
    assert all(o.ok for o in sink.send(events(1, start=2)))
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert_valid_story(json.loads(line))


def test_jsonl_sink_reports_an_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    outcomes = JsonlFileSink(blocker / "x.jsonl").send(events(2))
    assert [o.ok for o in outcomes] == [False, False]
    assert "cannot append" in (outcomes[0].error or "")


def test_redis_sink_xadds_fields_and_trims(redis_url: str) -> None:
    sink = RedisStreamSink(redis_url, "test:stories", maxlen=10)
    try:
        batch = events(300)
        assert all(o.ok for o in sink.send(batch))
        client = redis.Redis.from_url(redis_url)
        # Approximate trimming: bounded, though not exactly 10.
        assert client.xlen("test:stories") < 300
        _, fields = client.xrevrange("test:stories", count=1)[0]
        last = batch[-1]
        assert fields[b"story_id"].decode() == last.story_id
        assert fields[b"event"] == b"created"
        assert fields[b"revision"] == b"1"
        assert fields[b"idempotency_key"].decode() == last.idempotency_key
        assert_valid_story(json.loads(fields[b"payload"]))
        client.close()
    finally:
        sink.close()


def test_redis_sink_minid_trimming(redis_url: str) -> None:
    sink = RedisStreamSink(redis_url, "test:minid", maxlen=None, min_age_seconds=3600)
    assert all(o.ok for o in sink.send(events(3)))
    assert redis.Redis.from_url(redis_url).xlen("test:minid") == 3
    sink.close()


def test_redis_sink_reports_errors_when_redis_is_down() -> None:
    sink = RedisStreamSink("redis://127.0.0.1:1/0", "x")
    outcomes = sink.send(events(2))
    assert [o.ok for o in outcomes] == [False, False]
    assert "XADD" in (outcomes[0].error or "")


def test_webhook_sink_signs_each_post(http_server: LocalHTTPServer) -> None:
    http_server.route("/hook", Response(204))
    sink = WebhookSink("hook", http_server.url("/hook"), SECRET, timeout=5)
    batch = events(2)
    assert all(o.ok for o in sink.send(batch))
    sink.close()
    assert len(http_server.requests) == 2
    for request, event in zip(http_server.requests, batch, strict=True):
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-newsworker-event"] == "created"
        assert request.headers["x-newsworker-idempotency-key"] == event.idempotency_key
        assert verify_signature(SECRET, request.headers["x-newsworker-signature"], request.body)
        assert not verify_signature(
            "wrong" * 4, request.headers["x-newsworker-signature"], request.body
        )
        assert_valid_story(json.loads(request.body))


def test_webhook_sink_skips_the_rest_of_a_batch_when_the_endpoint_is_down(
    http_server: LocalHTTPServer,
) -> None:
    http_server.route("/hook", Response(503))
    sink = WebhookSink("hook", http_server.url("/hook"), SECRET, timeout=5)
    outcomes = sink.send(events(3))
    sink.close()
    assert len(http_server.requests) == 1
    assert [(o.ok, o.attempted) for o in outcomes] == [
        (False, True),
        (False, False),
        (False, False),
    ]
    assert "HTTP 503" in (outcomes[0].error or "")


def test_webhook_sink_goes_on_after_a_payload_rejection(http_server: LocalHTTPServer) -> None:
    calls: list[Request] = []

    def first_rejected(request: Request) -> Response:
        calls.append(request)
        return Response(422 if len(calls) == 1 else 200)

    http_server.route("/hook", first_rejected)
    sink = WebhookSink("hook", http_server.url("/hook"), SECRET, timeout=5)
    outcomes = sink.send(events(3))
    sink.close()
    assert [o.ok for o in outcomes] == [False, True, True]


def test_webhook_sink_connection_refused_is_a_failure() -> None:
    sink = WebhookSink("hook", "http://127.0.0.1:1/hook", SECRET, timeout=2)
    (outcome,) = sink.send(events(1))
    sink.close()
    assert not outcome.ok and "ConnectError" in (outcome.error or "")


def test_verify_signature_checks_tolerance_and_format() -> None:
    body = b'{"a": 1}'
    now = int(time.time())
    header = sign(SECRET, body, timestamp=now)
    assert verify_signature(SECRET, header, body)
    assert verify_signature(SECRET, header, body.decode())
    assert not verify_signature(SECRET, header, b'{"a": 2}')
    assert not verify_signature(SECRET, header, body, now=now + 301)
    assert verify_signature(SECRET, header, body, tolerance_seconds=600, now=now + 301)
    assert not verify_signature(SECRET, "garbage", body)
    assert not verify_signature(SECRET, f"t={now}", body)
    # Several v1 values (secret rotation): any match is enough.
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature(SECRET, rotated, body)
