"""Outbox deliveries (one per event and sink): claiming the due ones, recording attempts, backlog.

Every function takes the caller's session and never commits: the relay owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from newsworker.stages.records import OutboxEventData
from newsworker.storage.models import Delivery, DeliveryStatus, OutboxEvent
from newsworker.storage.outbox import event_columns, event_data


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A due delivery of one event to one sink, claimed for sending."""

    delivery_id: int
    attempts: int
    event: OutboxEventData


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The new state of one delivery after an attempt."""

    delivery_id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None = None


def supports_skip_locked(session: Session) -> bool:
    """True on PostgreSQL, where claims lock their rows so publishers never share a batch."""
    return session.get_bind().dialect.name == "postgresql"


def claim_due(*, session: Session, sink: str, now: datetime, limit: int) -> list[ClaimedDelivery]:
    """Select due pending deliveries of a sink, longest due first (FOR UPDATE SKIP LOCKED on PG)."""
    statement = (
        select(col(Delivery.id), col(Delivery.attempts), *event_columns())
        .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
        .where(
            col(Delivery.sink) == sink,
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
        )
        # ix_deliveries_due serves this order, so the database stops after `limit` rows.
        .order_by(col(Delivery.next_attempt_at))
        .limit(limit)
    )
    if supports_skip_locked(session):
        statement = statement.with_for_update(skip_locked=True, of=Delivery)
    rows = sorted(session.execute(statement).all(), key=lambda row: int(row[0]))
    return [ClaimedDelivery(row[0], row[1], event_data(row[2:])) for row in rows]


def mark_sent(*, session: Session, deliveries: Sequence[ClaimedDelivery], now: datetime) -> None:
    """Mark deliveries sent in one statement."""
    if not deliveries:
        return
    ids = [d.delivery_id for d in deliveries]
    session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids))
        .values(
            status=DeliveryStatus.SENT,
            attempts=col(Delivery.attempts) + 1,
            sent_at=now,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )


def record_attempts(*, session: Session, updates: Sequence[DeliveryUpdate]) -> None:
    """Store the outcome of failed or postponed attempts (one executemany)."""
    if not updates:
        return
    table = Delivery.__table__  # type: ignore[attr-defined]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            last_error=bindparam("b_error"),
            sent_at=bindparam("b_sent"),
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "b_id": u.delivery_id,
                "b_status": u.status,
                "b_attempts": u.attempts,
                "b_next": u.next_attempt_at,
                "b_error": u.last_error,
                "b_sent": u.sent_at,
            }
            for u in updates
        ],
    )


def pending_count(*, session: Session, sink: str | None = None) -> int:
    """Count deliveries still pending, for one sink or all."""
    statement = (
        select(func.count())
        .select_from(Delivery)
        .where(col(Delivery.status) == DeliveryStatus.PENDING)
    )
    if sink is not None:
        statement = statement.where(col(Delivery.sink) == sink)
    return int(session.exec(statement).one())


def oldest_pending_age(*, session: Session, now: datetime | None = None) -> timedelta | None:
    """Age of the oldest event some sink has not received yet; None when nothing is pending."""
    statement = (
        select(func.min(col(OutboxEvent.created_at)))
        .join(Delivery, col(Delivery.event_id) == col(OutboxEvent.id))
        .where(col(Delivery.status) == DeliveryStatus.PENDING)
    )
    oldest = session.exec(statement).one()
    if oldest is None:
        return None
    if isinstance(oldest, str):  # SQLite returns aggregates unprocessed
        oldest = datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - oldest
