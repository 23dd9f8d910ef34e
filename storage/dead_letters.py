"""Dead letters: deliveries that gave up, listed for ops and put back to pending for a replay.

Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from newsworker.storage.models import Delivery, DeliveryStatus, OutboxEvent


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery that gave up: what ops inspect before a replay."""

    delivery_id: int
    event_id: int
    sink: str
    story_id: str
    revision: int
    event: str
    idempotency_key: str
    attempts: int
    last_error: str | None
    created_at: datetime
    failed_at: datetime


def dead_letters(
    *, session: Session, limit: int = 100, sink: str | None = None
) -> list[DeadLetter]:
    """The deliveries that gave up, oldest first."""
    statement = (
        select(Delivery, OutboxEvent)
        .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
        .where(col(Delivery.status) == DeliveryStatus.DEAD)
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    if sink is not None:
        statement = statement.where(col(Delivery.sink) == sink)
    letters = []
    for delivery, event in session.exec(statement).all():
        assert delivery.id is not None and event.id is not None
        letters.append(
            DeadLetter(
                delivery_id=delivery.id,
                event_id=event.id,
                sink=delivery.sink,
                story_id=event.story_id,
                revision=event.revision,
                event=event.event,
                idempotency_key=event.idempotency_key,
                attempts=delivery.attempts,
                last_error=delivery.last_error,
                created_at=event.created_at,
                failed_at=delivery.next_attempt_at,
            )
        )
    return letters


def requeue_dead(
    *,
    session: Session,
    ids: Sequence[int] | None = None,
    all: bool = False,
    now: datetime | None = None,
) -> int:
    """Put dead deliveries (by delivery id, or all of them) back to pending; return how many."""
    if not all and not ids:
        raise ValueError("requeue_dead: give delivery ids or all=True")
    statement = (
        update(Delivery)
        .where(col(Delivery.status) == DeliveryStatus.DEAD)
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now or datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )
    if not all:
        statement = statement.where(col(Delivery.id).in_(list(ids or ())))
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]
