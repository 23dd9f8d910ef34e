"""The transactional outbox: story events, their per-sink deliveries and the stored stories.

Every function takes the caller's session and never commits: the caller owns the transaction,
so an event is written in the same transaction as the article it describes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Insert, Table, Text, bindparam, cast, func, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from newsworker.stages.records import OutboxEventData
from newsworker.storage.models import Delivery, DeliveryStatus, OutboxEvent, Story


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


def enqueue_story_event(
    *, session: Session, payload: dict[str, Any], sinks: Sequence[str]
) -> OutboxEvent:
    """Add a story event and one pending delivery per sink; idempotent on idempotency_key."""
    key = payload.get("idempotency_key")
    if not isinstance(key, str) or not key:
        raise ValueError("payload.idempotency_key: missing; build payloads with build_story")
    # Events are flushed as soon as they are added, so the lookup needs no autoflush.
    with session.no_autoflush:
        existing_id = session.exec(
            select(OutboxEvent.id).where(OutboxEvent.idempotency_key == key)
        ).first()
    if existing_id is not None:
        found = session.get(OutboxEvent, existing_id)
        assert found is not None
        return found
    now = datetime.now(UTC)
    event = OutboxEvent(
        story_id=str(payload["story_id"]),
        revision=int(payload["revision"]),
        event=str(payload["event"]),
        idempotency_key=key,
        payload=payload,
        created_at=now,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    for sink in dict.fromkeys(sinks):
        session.add(Delivery(event_id=event.id, sink=sink, next_attempt_at=now))
    return event


# Bound parameters per IN query: far below SQLite's 32,766 and PostgreSQL's 65,535.
KEY_LOOKUP_CHUNK = 2_000


class EnqueuedEvents(NamedTuple):
    """What enqueue_story_batch did: how many events were new, and every key's event id."""

    new: int
    ids: dict[str, int]


def enqueue_story_events(
    *, session: Session, payloads: Sequence[dict[str, Any]], sinks: Sequence[str]
) -> int:
    """Add many story events and one pending delivery per sink each; return how many were new."""
    return enqueue_story_batch(session=session, payloads=payloads, sinks=sinks).new


def enqueue_story_batch(
    *, session: Session, payloads: Sequence[dict[str, Any]], sinks: Sequence[str]
) -> EnqueuedEvents:
    """Add many story events with their pending deliveries; return the new count and all ids.

    Idempotent on idempotency_key like enqueue_story_event: keys already stored (or repeated in
    payloads) are skipped, and their stored ids returned. One batched INSERT ... ON CONFLICT DO
    NOTHING RETURNING of the events (a SELECT only for the keys it skipped, which are rare) and
    one executemany of the deliveries, with no ORM objects.
    """
    if not payloads:
        return EnqueuedEvents(0, {})
    by_key: dict[str, dict[str, Any]] = {}
    for index, payload in enumerate(payloads):
        key = payload.get("idempotency_key")
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"payloads[{index}].idempotency_key: missing; build payloads with build_story"
            )
        by_key.setdefault(key, payload)
    now = datetime.now(UTC)
    rows = [
        {
            "story_id": str(payload["story_id"]),
            "revision": int(payload["revision"]),
            "event": str(payload["event"]),
            "idempotency_key": key,
            "payload": payload,
            "created_at": now,
        }
        for key, payload in by_key.items()
    ]
    # Core statements: the ORM's bulk path costs more per row than the INSERT. RETURNING the key
    # with the id, not in parameter order: ordered RETURNING runs one statement per row on
    # SQLite, unordered is batched into multi-row INSERTs on both databases.
    events = OutboxEvent.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    returned = connection.execute(
        _insert_skipping_conflicts(connection.dialect.name, events, "idempotency_key").returning(
            events.c.idempotency_key, events.c.id
        ),
        rows,
    )
    new_ids: dict[str, int] = {key: event_id for key, event_id in returned}
    deliveries = [
        {
            "event_id": new_ids[key],
            "sink": sink,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for key in new_ids
        for sink in dict.fromkeys(sinks)
    ]
    if deliveries:
        connection.execute(insert(Delivery.__table__), deliveries)  # type: ignore[attr-defined]
    ids_by_key = dict(new_ids)
    skipped = [key for key in by_key if key not in new_ids]
    if skipped:
        ids_by_key.update(_event_ids(session, skipped))
    return EnqueuedEvents(len(new_ids), ids_by_key)


def _insert_skipping_conflicts(dialect: str, table: Table, column: str) -> Insert:
    """INSERT ... ON CONFLICT (column) DO NOTHING, on SQLite or PostgreSQL."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[column])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[column])


def _event_ids(session: Session, keys: Sequence[str]) -> dict[str, int]:
    """Stored event ids by idempotency key, for the keys that are stored."""
    found: dict[str, int] = {}
    with session.no_autoflush:
        for start in range(0, len(keys), KEY_LOOKUP_CHUNK):
            rows = session.execute(
                select(col(OutboxEvent.idempotency_key), col(OutboxEvent.id)).where(
                    col(OutboxEvent.idempotency_key).in_(keys[start : start + KEY_LOOKUP_CHUNK])
                )
            )
            found.update((key, event_id) for key, event_id in rows)
    return found


def _event_columns() -> tuple[Any, ...]:
    # The payload is read as text: sinks send the stored bytes without a decode/encode round trip.
    return (
        col(OutboxEvent.id),
        col(OutboxEvent.story_id),
        col(OutboxEvent.revision),
        col(OutboxEvent.event),
        col(OutboxEvent.idempotency_key),
        cast(col(OutboxEvent.payload), Text),
        col(OutboxEvent.created_at),
    )


def _event_data(row: Sequence[Any]) -> OutboxEventData:
    return OutboxEventData(
        id=row[0],
        story_id=row[1],
        revision=row[2],
        event=row[3],
        idempotency_key=row[4],
        payload_json=row[5],
        created_at=row[6],
    )


def supports_skip_locked(session: Session) -> bool:
    """True on PostgreSQL, where claims lock their rows so publishers never share a batch."""
    return session.get_bind().dialect.name == "postgresql"


def claim_due(*, session: Session, sink: str, now: datetime, limit: int) -> list[ClaimedDelivery]:
    """Select due pending deliveries of a sink, longest due first (FOR UPDATE SKIP LOCKED on PG)."""
    statement = (
        select(col(Delivery.id), col(Delivery.attempts), *_event_columns())
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
    return [ClaimedDelivery(row[0], row[1], _event_data(row[2:])) for row in rows]


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


def iter_events_since(
    *, session: Session, since: datetime, batch_size: int = 500
) -> Iterator[list[OutboxEventData]]:
    """Yield stored outbox events created at or after since, in batches, oldest first."""
    last_id = 0
    while True:
        statement = (
            select(*_event_columns())
            .where(col(OutboxEvent.created_at) >= since, col(OutboxEvent.id) > last_id)
            .order_by(col(OutboxEvent.id))
            .limit(batch_size)
        )
        batch = [_event_data(row) for row in session.execute(statement).all()]
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def iter_stories_since(
    *, session: Session, since: datetime | None = None, batch_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Yield the latest payload of each story updated at or after since, oldest first."""
    last_key: tuple[datetime, str] | None = None
    while True:
        statement = (
            select(col(Story.updated_at), col(Story.story_id), col(OutboxEvent.payload))
            .join(OutboxEvent, col(OutboxEvent.id) == col(Story.last_event_id))
            .order_by(col(Story.updated_at), col(Story.story_id))
        )
        if since is not None:
            statement = statement.where(col(Story.updated_at) >= since)
        if last_key is not None:
            statement = statement.where(
                (col(Story.updated_at) > last_key[0])
                | ((col(Story.updated_at) == last_key[0]) & (col(Story.story_id) > last_key[1]))
            )
        rows = session.execute(statement.limit(batch_size)).all()
        if not rows:
            return
        for _, _, payload in rows:
            yield dict(payload)
        last_key = (rows[-1][0], rows[-1][1])


def story_payloads(*, session: Session, story_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The latest payload of each stored story, by story id (a story's last event holds it)."""
    if not story_ids:
        return {}
    rows = session.execute(
        select(col(Story.story_id), col(OutboxEvent.payload))
        .join(OutboxEvent, col(OutboxEvent.id) == col(Story.last_event_id))
        .where(col(Story.story_id).in_(list(story_ids)))
    ).all()
    return {story_id: dict(payload) for story_id, payload in rows}


def get_story(*, session: Session, story_id: str) -> dict[str, Any] | None:
    """The latest payload of one story, or None."""
    return story_payloads(session=session, story_ids=[story_id]).get(story_id)
