"""The outbox relay: send due deliveries to each sink, then mark them sent.

Delivery is at least once: the mark is committed after the send, so a crash in between sends
the same story_id and revision (the same idempotency_key) again on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from newsworker.stages.publish.sinks import SendOutcome, Sink, SinkError
from newsworker.stages.records import OutboxEventData
from newsworker.storage.deliveries import (
    ClaimedDelivery,
    DeliveryUpdate,
    claim_due,
    mark_sent,
    record_attempts,
    supports_skip_locked,
)
from newsworker.storage.models import DeliveryStatus
from newsworker.storage.outbox import iter_events_since
from newsworker.tasks import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How the relay batches and retries; tasks/publishing.py fills it in from settings."""

    batch_size: int = 500
    # Sinks with dead_letter=True (webhooks) give up after this many attempts.
    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 3600.0
    # Upper bound on batches per sink in one publish_pending call.
    max_batches: int = 1000


@dataclass(slots=True)
class SinkReport:
    """What one sink did in one publish_pending call."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(slots=True)
class PublishReport:
    """Per-sink counts of one publish_pending call."""

    sinks: dict[str, SinkReport] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Events delivered, over all sinks."""
        return sum(r.sent for r in self.sinks.values())

    @property
    def failed(self) -> int:
        """Failed attempts that will be retried, over all sinks."""
        return sum(r.failed for r in self.sinks.values())

    @property
    def dead(self) -> int:
        """Deliveries that gave up in this call, over all sinks."""
        return sum(r.dead for r in self.sinks.values())


def backoff_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """Exponential backoff after the given number of failed attempts (1 -> base)."""
    exponent = max(attempts - 1, 0)
    seconds = max_seconds if exponent >= 62 else min(base_seconds * 2**exponent, max_seconds)
    return timedelta(seconds=seconds)


def _send(sink: Sink, claimed: Sequence[ClaimedDelivery]) -> list[SendOutcome]:
    events = [c.event for c in claimed]
    try:
        outcomes = list(sink.send(events))
    except Exception as e:
        log.warning("sink %s raised while sending %d events: %s", sink.name, len(events), e)
        error = f"{type(e).__name__}: {e}"
        return [SendOutcome(ev.id, ok=False, error=error) for ev in events]
    by_id = {o.event_id: o for o in outcomes}
    missing = "sink returned no outcome for this event"
    return [by_id.get(ev.id) or SendOutcome(ev.id, ok=False, error=missing) for ev in events]


def _failure_updates(
    sink: Sink,
    failures: Sequence[tuple[ClaimedDelivery, SendOutcome]],
    now: datetime,
    policy: DeliveryPolicy,
    report: SinkReport,
) -> list[DeliveryUpdate]:
    gives_up = bool(getattr(sink, "dead_letter", True))
    updates: list[DeliveryUpdate] = []
    latest_retry = now + timedelta(seconds=policy.backoff_base_seconds)
    for claimed, outcome in failures:
        if not outcome.attempted:
            continue
        attempts = claimed.attempts + 1
        retry_at = now + backoff_delay(
            attempts,
            base_seconds=policy.backoff_base_seconds,
            max_seconds=policy.backoff_max_seconds,
        )
        latest_retry = max(latest_retry, retry_at)
        dead = gives_up and attempts >= policy.max_attempts
        status = DeliveryStatus.DEAD if dead else DeliveryStatus.PENDING
        updates.append(
            DeliveryUpdate(claimed.delivery_id, status, attempts, retry_at, outcome.error)
        )
        if dead:
            report.dead += 1
            log.warning(
                "delivery of %s to %s is dead after %d attempts: %s",
                claimed.event.idempotency_key,
                sink.name,
                attempts,
                outcome.error,
            )
        else:
            report.failed += 1
    # Skipped events wait as long as the failure that made the sink skip them.
    for claimed, outcome in failures:
        if not outcome.attempted:
            updates.append(
                DeliveryUpdate(
                    claimed.delivery_id,
                    DeliveryStatus.PENDING,
                    claimed.attempts,
                    latest_retry,
                    outcome.error,
                )
            )
    return updates


def _drain_sink(
    sink: Sink,
    session_factory: Callable[[], Session],
    policy: DeliveryPolicy,
    clock: Callable[[], datetime],
) -> SinkReport:
    report = SinkReport()
    for _ in range(policy.max_batches):
        with session_factory() as session:
            claimed = claim_due(
                session=session, sink=sink.name, now=clock(), limit=policy.batch_size
            )
            if not claimed:
                break
            if not supports_skip_locked(session):
                # SQLite: end the read so the later write does not hit a stale WAL snapshot.
                session.rollback()
            outcomes = _send(sink, claimed)
            now = clock()
            sent = [c for c, o in zip(claimed, outcomes, strict=True) if o.ok]
            failures = [(c, o) for c, o in zip(claimed, outcomes, strict=True) if not o.ok]
            mark_sent(session=session, deliveries=sent, now=now)
            dead_before = report.dead
            record_attempts(
                session=session, updates=_failure_updates(sink, failures, now, policy, report)
            )
            session.commit()
            report.sent += len(sent)
            _count(sink.name, sent, len(failures), report.dead - dead_before, now)
        if len(claimed) < policy.batch_size:
            break
    return report


def _count(
    sink: str, sent: Sequence[ClaimedDelivery], failed: int, dead: int, now: datetime
) -> None:
    """Publish counts and outbox-to-sink lag, for the metrics."""
    metrics.PUBLISHED.labels(sink=sink, outcome="sent").inc(len(sent))
    if failed:
        metrics.PUBLISHED.labels(sink=sink, outcome="failed").inc(failed)
    if dead:
        metrics.PUBLISHED.labels(sink=sink, outcome="dead").inc(dead)
    lag = metrics.OUTBOX_LAG.labels(sink=sink)
    for delivery in sent:
        lag.observe(max(0.0, (now - delivery.event.created_at).total_seconds()))


def publish_pending(
    *,
    session_factory: Callable[[], Session],
    sinks: Sequence[Sink],
    batch_size: int = 500,
    max_attempts: int = 8,
    now: Callable[[], datetime] | None = None,
    policy: DeliveryPolicy | None = None,
) -> PublishReport:
    """Relay due outbox deliveries to every sink, each sink in its own thread and at its pace."""
    policy = policy or DeliveryPolicy(batch_size=batch_size, max_attempts=max_attempts)
    clock = now or (lambda: datetime.now(UTC))
    report = PublishReport()
    if len(sinks) == 1:
        report.sinks[sinks[0].name] = _drain_sink(sinks[0], session_factory, policy, clock)
        return report
    with ThreadPoolExecutor(max_workers=max(len(sinks), 1), thread_name_prefix="relay") as pool:
        futures = {
            sink.name: pool.submit(_drain_sink, sink, session_factory, policy, clock)
            for sink in sinks
        }
    errors: list[BaseException] = []
    for name, future in futures.items():
        error = future.exception()
        if error is None:
            report.sinks[name] = future.result()
        else:
            errors.append(error)
    if errors:
        raise errors[0]
    return report


def replay(*, session: Session, sink: Sink, since: datetime, batch_size: int = 500) -> int:
    """Re-send stored events created since a time straight to a sink; return how many went."""
    sent = 0
    failed = 0
    first_error: str | None = None
    for batch in iter_events_since(session=session, since=since, batch_size=batch_size):
        outcomes = _send_events(sink, batch)
        sent += sum(1 for o in outcomes if o.ok)
        for outcome in outcomes:
            if not outcome.ok:
                failed += 1
                first_error = first_error or outcome.error
    if failed:
        raise SinkError(
            f"replay to sink {sink.name}: {failed} events failed, {sent} sent; first: {first_error}"
        )
    return sent


def _send_events(sink: Sink, events: Sequence[OutboxEventData]) -> list[SendOutcome]:
    try:
        return list(sink.send(events))
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        return [SendOutcome(ev.id, ok=False, error=error) for ev in events]
