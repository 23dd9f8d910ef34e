"""Delivery sinks: a JSON Lines file, a Redis Stream and signed webhooks.

Sinks take a batch of outbox events and report one outcome per event; they never raise for a
delivery failure, so the relay can back off and retry each event on its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
import redis

from newsworker.config.defaults import DEFAULT_STREAM_NAME
from newsworker.stages.errors import IngestError
from newsworker.stages.publish.signing import SIGNATURE_HEADER, sign, verify_signature
from newsworker.stages.publish.story import PRODUCER
from newsworker.stages.records import OutboxEventData

__all__ = [
    "JsonlFileSink",
    "RedisStreamSink",
    "SendOutcome",
    "Sink",
    "SinkError",
    "WebhookSink",
    "verify_signature",
]


class SinkError(IngestError):
    """A sink could not deliver; temporary, retried with backoff by the relay."""

    retryable = True
    kind = "sink_error"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The result of sending one event: ok, failed (error set), or not attempted."""

    event_id: int
    ok: bool
    error: str | None = None
    # False when the sink skipped the event (its endpoint was already failing in this batch):
    # the relay postpones it without counting an attempt.
    attempted: bool = True


@runtime_checkable
class Sink(Protocol):
    """Where story events go. `name` is the Delivery.sink value this sink owns."""

    name: str

    def send(self, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
        """Deliver a batch; one outcome per event, in order."""
        ...


class JsonlFileSink:
    """Append one JSON line per event payload; flush and fsync once per batch."""

    dead_letter = False

    def __init__(self, path: str | Path, *, name: str = "jsonl") -> None:
        self.name = name
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
        """Append the batch to the file."""
        if not events:
            return []
        data = "".join(f"{e.payload_json}\n" for e in events).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as e:
            error = f"cannot append to {self.path}: {e}"
            return [SendOutcome(ev.id, ok=False, error=error) for ev in events]
        return [SendOutcome(ev.id, ok=True) for ev in events]


class RedisStreamSink:
    """XADD each event to a stream, trimmed by approximate MAXLEN or a time-based MINID."""

    dead_letter = False

    def __init__(
        self,
        redis_url: str,
        stream: str = DEFAULT_STREAM_NAME,
        maxlen: int | None = 1_000_000,
        *,
        min_age_seconds: float | None = None,
        name: str = "redis",
        client: redis.Redis[bytes] | None = None,
    ) -> None:
        if maxlen is not None and min_age_seconds is not None:
            raise ValueError("RedisStreamSink: give maxlen or min_age_seconds, not both")
        self.name = name
        self.stream = stream
        self.maxlen = maxlen
        self.min_age_seconds = min_age_seconds
        self.client = client or redis.Redis.from_url(
            redis_url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30
        )

    def _trim_args(self) -> dict[str, Any]:
        if self.min_age_seconds is not None:
            cutoff_ms = int((time.time() - self.min_age_seconds) * 1000)
            return {"minid": f"{cutoff_ms}-0", "approximate": True}
        if self.maxlen is not None:
            return {"maxlen": self.maxlen, "approximate": True}
        return {}

    def send(self, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
        """XADD the batch in one pipelined round trip."""
        if not events:
            return []
        trim = self._trim_args()
        pipe = self.client.pipeline(transaction=False)
        for e in events:
            fields: dict[Any, Any] = {
                "story_id": e.story_id,
                "event": e.event,
                "revision": e.revision,
                "idempotency_key": e.idempotency_key,
                "payload": e.payload_json,
            }
            pipe.xadd(self.stream, fields, **trim)
        try:
            results = pipe.execute(raise_on_error=False)
        except redis.RedisError as e:
            error = f"XADD to {self.stream} failed: {e}"
            return [SendOutcome(ev.id, ok=False, error=error) for ev in events]
        return [
            SendOutcome(ev.id, ok=False, error=f"XADD to {self.stream} failed: {result}")
            if isinstance(result, Exception)
            else SendOutcome(ev.id, ok=True)
            for ev, result in zip(events, results, strict=True)
        ]

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


class WebhookSink:
    """POST each payload to one endpoint, signed with its own secret (HMAC-SHA256)."""

    dead_letter = True

    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        timeout: float = 10.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook {name}: url {url!r} must be http(s)")
        self.name = name
        self.url = url
        self._secret = secret
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": PRODUCER, "Content-Type": "application/json"},
        )

    def _post(self, event: OutboxEventData) -> tuple[SendOutcome, bool]:
        """POST one event; return its outcome and whether the endpoint itself looks down."""
        body = event.payload_json.encode()
        headers = {
            SIGNATURE_HEADER: sign(self._secret, body),
            "X-Newsworker-Event": event.event,
            "X-Newsworker-Idempotency-Key": event.idempotency_key,
            "X-Newsworker-Story-Id": event.story_id,
            "X-Newsworker-Revision": str(event.revision),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            error = f"POST {self.url}: {type(e).__name__}: {e}"
            return SendOutcome(event.id, ok=False, error=error), True
        status = response.status_code
        if 200 <= status < 300:
            return SendOutcome(event.id, ok=True), False
        # 5xx and 429 mean the endpoint is unwell; another 4xx rejects this one payload.
        down = status >= 500 or status == 429
        return SendOutcome(event.id, ok=False, error=f"POST {self.url}: HTTP {status}"), down

    def send(self, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
        """POST events one by one; once the endpoint looks down, skip the rest of the batch."""
        outcomes: list[SendOutcome] = []
        down_error: str | None = None
        for event in events:
            if down_error is not None:
                outcomes.append(SendOutcome(event.id, ok=False, error=down_error, attempted=False))
                continue
            outcome, down = self._post(event)
            outcomes.append(outcome)
            if down:
                down_error = f"skipped: {outcome.error}"
        return outcomes

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
