"""The outbox relay against real Redis, a real webhook receiver, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from newsworker.stages.errors import IngestError
from newsworker.stages.publish.sinks import (
    JsonlFileSink,
    RedisStreamSink,
    SendOutcome,
    SinkError,
    WebhookSink,
    verify_signature,
)
from newsworker.stages.records import OutboxEventData
from newsworker.storage.db import create_db_engine
from newsworker.storage.dead_letters import dead_letters, requeue_dead
from newsworker.storage.deliveries import pending_count
from newsworker.storage.outbox import enqueue_story_batch
from newsworker.tasks.relay import DeliveryPolicy, backoff_delay, publish_pending, replay
from tests.support.http import LocalHTTPServer, Request, Response
from tests.support.paths import REPO
from tests.support.schema import assert_valid_story, example_story

SECRET = "webhook-secret-0123456789"
STREAM = "test:stories"


def factory(engine: Engine) -> Callable[[], Session]:
    """A session factory on the test engine."""
    return lambda: Session(engine, expire_on_commit=False)


def enqueue(engine: Engine, count: int, sinks: Sequence[str], *, start: int = 0) -> list[str]:
    """Enqueue count example stories; return their idempotency keys."""
    payloads = [example_story(n=n) for n in range(start, start + count)]
    with Session(engine) as session:
        enqueue_story_batch(session=session, payloads=payloads, sinks=sinks)
        session.commit()
    return [payload["idempotency_key"] for payload in payloads]


def stream_keys(redis_url: str, stream: str = STREAM) -> list[str]:
    """Every idempotency key on the stream, in stream order, each payload schema-checked."""
    client = redis.Redis.from_url(redis_url)
    keys = []
    for _, fields in client.xrange(stream):
        payload = json.loads(fields[b"payload"])
        assert_valid_story(payload)
        assert payload["idempotency_key"] == fields[b"idempotency_key"].decode()
        keys.append(payload["idempotency_key"])
    client.close()
    return keys


class Clock:
    """A settable clock for backoff tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_relay_sends_everything_to_every_sink_once(
    engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    keys = enqueue(engine, 25, ["redis", "jsonl"])
    stream_sink = RedisStreamSink(redis_url, STREAM, maxlen=100_000)
    file_sink = JsonlFileSink(tmp_path / "stories.jsonl")
    report = publish_pending(
        session_factory=factory(engine), sinks=[stream_sink, file_sink], batch_size=10
    )
    assert (report.sinks["redis"].sent, report.sinks["jsonl"].sent) == (25, 25)
    assert stream_keys(redis_url) == keys
    lines = (tmp_path / "stories.jsonl").read_text().splitlines()
    assert [json.loads(line)["idempotency_key"] for line in lines] == keys
    again = publish_pending(session_factory=factory(engine), sinks=[stream_sink, file_sink])
    assert again.sent == 0
    with Session(engine) as session:
        assert pending_count(session=session) == 0
    stream_sink.close()


class Crash(BaseException):
    """Stands in for a process killed between the send and the mark."""


class CrashAfterSend:
    """Sends through the real sink, then dies before the relay can mark anything sent."""

    def __init__(self, inner: RedisStreamSink) -> None:
        self.inner = inner
        self.name = inner.name

    def send(self, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
        self.inner.send(events)
        raise Crash


def test_crash_between_xadd_and_mark_resends_the_same_keys(engine: Engine, redis_url: str) -> None:
    keys = enqueue(engine, 12, ["redis"])
    sink = RedisStreamSink(redis_url, STREAM, maxlen=100_000)
    with pytest.raises(Crash):
        publish_pending(session_factory=factory(engine), sinks=[CrashAfterSend(sink)], batch_size=5)
    assert stream_keys(redis_url) == keys[:5]
    report = publish_pending(session_factory=factory(engine), sinks=[sink], batch_size=5)
    assert report.sinks["redis"].sent == 12
    seen = stream_keys(redis_url)
    assert seen == keys[:5] + keys
    # Consumers de-duplicate by idempotency_key and lose nothing.
    assert list(dict.fromkeys(seen)) == keys
    sink.close()


KILLED_PUBLISHER = """
import os, signal, sys
from sqlmodel import Session
from newsworker.storage.db import create_db_engine
from newsworker.tasks.relay import publish_pending
from newsworker.stages.publish.sinks import RedisStreamSink

engine = create_db_engine(sys.argv[1])
inner = RedisStreamSink(sys.argv[2], sys.argv[3], maxlen=100_000)

class KillAfterXadd:
    name = inner.name
    def send(self, events):
        inner.send(events)
        os.kill(os.getpid(), signal.SIGKILL)

publish_pending(session_factory=lambda: Session(engine), sinks=[KillAfterXadd()], batch_size=4)
"""


def test_publisher_killed_with_sigkill_after_xadd_loses_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    keys = enqueue(engine, 10, ["redis"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_PUBLISHER), url, redis_url, STREAM],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    assert stream_keys(redis_url) == keys[:4]
    sink = RedisStreamSink(redis_url, STREAM, maxlen=100_000)
    publish_pending(session_factory=factory(engine), sinks=[sink], batch_size=4)
    seen = stream_keys(redis_url)
    assert seen.count(keys[0]) == 2
    assert set(seen) == set(keys)
    sink.close()
    engine.dispose()


def test_webhook_failing_three_times_then_succeeding_gets_a_signed_story(
    engine: Engine, http_server: LocalHTTPServer
) -> None:
    received: list[Request] = []

    def flaky(request: Request) -> Response:
        received.append(request)
        return Response(500) if len(received) <= 3 else Response(200)

    http_server.route("/hook", flaky)
    (key,) = enqueue(engine, 1, ["hook"])
    sink = WebhookSink("hook", http_server.url("/hook"), SECRET, timeout=5)
    clock = Clock()
    policy = DeliveryPolicy(max_attempts=8, backoff_base_seconds=2)
    for attempt in range(1, 4):
        report = publish_pending(
            session_factory=factory(engine), sinks=[sink], now=clock, policy=policy
        )
        assert report.sinks["hook"].failed == 1
        # Not due again before its backoff has passed.
        assert (
            publish_pending(
                session_factory=factory(engine), sinks=[sink], now=clock, policy=policy
            ).sinks["hook"]
            == report.sinks["hook"].__class__()
        )
        clock.advance(backoff_delay(attempt, base_seconds=2, max_seconds=3600).total_seconds())
    report = publish_pending(
        session_factory=factory(engine), sinks=[sink], now=clock, policy=policy
    )
    assert report.sinks["hook"].sent == 1
    sink.close()
    assert len(received) == 4
    last = received[-1]
    assert last.headers["x-newsworker-idempotency-key"] == key
    assert verify_signature(SECRET, last.headers["x-newsworker-signature"], last.body)
    assert_valid_story(json.loads(last.body))


def test_webhook_gives_up_to_dead_letters_and_requeue_redelivers(
    engine: Engine, http_server: LocalHTTPServer
) -> None:
    status = {"code": 500}
    http_server.route("/hook", lambda _r: Response(status["code"]))
    enqueue(engine, 3, ["hook"])
    sink = WebhookSink("hook", http_server.url("/hook"), SECRET, timeout=5)
    clock = Clock()
    policy = DeliveryPolicy(max_attempts=3, backoff_base_seconds=1)
    dead = 0
    for _ in range(12):
        report = publish_pending(
            session_factory=factory(engine), sinks=[sink], now=clock, policy=policy
        )
        dead += report.sinks["hook"].dead
        clock.advance(3600)
    assert dead == 3
    with Session(engine) as session:
        letters = dead_letters(session=session, limit=10)
        assert [d.attempts for d in letters] == [3, 3, 3]
        assert all("HTTP 500" in (d.last_error or "") for d in letters)
        assert pending_count(session=session) == 0
        assert requeue_dead(session=session, all=True) == 3
        session.commit()
    status["code"] = 200
    report = publish_pending(session_factory=factory(engine), sinks=[sink], policy=policy)
    assert report.sinks["hook"].sent == 3
    sink.close()


def test_several_webhooks_each_with_its_own_secret(
    engine: Engine, http_server: LocalHTTPServer
) -> None:
    http_server.route("/a", Response(200))
    http_server.route("/b", Response(200))
    enqueue(engine, 2, ["a", "b"])
    sinks = [
        WebhookSink("a", http_server.url("/a"), "secret-a-0123456789"),
        WebhookSink("b", http_server.url("/b"), "secret-b-0123456789"),
    ]
    report = publish_pending(session_factory=factory(engine), sinks=sinks)
    assert report.sent == 4
    for request in http_server.requests:
        secret = "secret-a-0123456789" if request.path == "/a" else "secret-b-0123456789"
        assert verify_signature(secret, request.headers["x-newsworker-signature"], request.body)
    for sink in sinks:
        sink.close()


def test_a_slow_webhook_does_not_hold_up_the_stream(
    engine: Engine, http_server: LocalHTTPServer, redis_url: str
) -> None:
    release = threading.Event()

    def slow(_request: Request) -> Response:
        release.wait(10)
        return Response(200)

    http_server.route("/slow", slow)
    keys = enqueue(engine, 5, ["redis", "slow"])
    stream_sink = RedisStreamSink(redis_url, STREAM, maxlen=100_000)
    hook = WebhookSink("slow", http_server.url("/slow"), SECRET, timeout=15)
    result: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: result.update(
            report=publish_pending(session_factory=factory(engine), sinks=[stream_sink, hook])
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(stream_keys(redis_url)) < 5:
        time.sleep(0.02)
    assert stream_keys(redis_url) == keys
    assert thread.is_alive()  # the webhook is still stuck on its first POST
    release.set()
    thread.join(20)
    report = result["report"]
    assert report.sinks["redis"].sent == 5 and report.sinks["slow"].sent == 5  # type: ignore[attr-defined]
    stream_sink.close()
    hook.close()


def test_failing_sink_keeps_retrying_without_dead_letters(engine: Engine) -> None:
    enqueue(engine, 2, ["redis"])
    sink = RedisStreamSink("redis://127.0.0.1:1/0", STREAM)
    clock = Clock()
    policy = DeliveryPolicy(max_attempts=2, backoff_base_seconds=1, backoff_max_seconds=30)
    for _ in range(4):
        report = publish_pending(
            session_factory=factory(engine), sinks=[sink], now=clock, policy=policy
        )
        assert (report.sinks["redis"].failed, report.sinks["redis"].dead) == (2, 0)
        clock.advance(60)
    with Session(engine) as session:
        assert pending_count(session=session, sink="redis") == 2


def test_replay_reemits_stored_events(engine: Engine, tmp_path: Path) -> None:
    keys = enqueue(engine, 4, ["jsonl"])
    sink = JsonlFileSink(tmp_path / "replay.jsonl")
    with Session(engine) as session:
        since = datetime.now(UTC) - timedelta(minutes=5)
        assert replay(session=session, sink=sink, since=since, batch_size=3) == 4
        future = datetime.now(UTC) + timedelta(minutes=5)
        assert replay(session=session, sink=sink, since=future) == 0
    lines = (tmp_path / "replay.jsonl").read_text().splitlines()
    assert [json.loads(line)["idempotency_key"] for line in lines] == keys
    broken = JsonlFileSink(tmp_path / "replay.jsonl" / "nope")
    with (
        Session(engine) as session,
        pytest.raises(SinkError, match="4 events failed, 0 sent") as info,
    ):
        replay(session=session, sink=broken, since=since, batch_size=3)
    assert isinstance(info.value, IngestError)


def test_backoff_grows_and_caps() -> None:
    delays = [
        backoff_delay(n, base_seconds=2, max_seconds=60).total_seconds() for n in (1, 2, 3, 9)
    ]
    assert delays == [2, 4, 8, 60]
    assert backoff_delay(500, base_seconds=2, max_seconds=60).total_seconds() == 60


class SlowSink:
    """Records what it was sent, slowly, so concurrent publishers overlap."""

    def __init__(self) -> None:
        self.name = "redis"
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def send(self, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
        time.sleep(0.02)
        with self._lock:
            self.keys.extend(e.idempotency_key for e in events)
        return [SendOutcome(e.id, ok=True) for e in events]


@pytest.mark.postgres
def test_concurrent_publishers_never_share_a_batch_on_postgres(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    SQLModel.metadata.create_all(engine)
    keys = enqueue(engine, 60, ["redis"])
    sink = SlowSink()
    threads = [
        threading.Thread(
            target=publish_pending,
            kwargs={"session_factory": factory(engine), "sinks": [sink], "batch_size": 5},
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(sink.keys) == sorted(keys)
    engine.dispose()


def test_publish_counts_and_outbox_lag_reach_the_metrics(engine: Engine, tmp_path: Path) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    sink = JsonlFileSink(tmp_path / "stories.jsonl", name="metrics-test")
    sent_before = sample("newsworker_published_total", sink="metrics-test", outcome="sent")
    lag_before = sample("newsworker_outbox_lag_seconds_count", sink="metrics-test")
    enqueue(engine, 7, ["metrics-test"])
    publish_pending(session_factory=factory(engine), sinks=[sink])
    assert sample("newsworker_published_total", sink="metrics-test", outcome="sent") == (
        sent_before + 7
    )
    assert sample("newsworker_outbox_lag_seconds_count", sink="metrics-test") == lag_before + 7
