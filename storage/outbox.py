"""The transactional outbox's events: enqueueing story events with their deliveries, reading them.

Every function takes the caller's session and never commits: the caller owns the transaction,
so an event is written in the same transaction as the article it describes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Insert, Table, Text, cast, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from newsworker.stages.records import OutboxEventData
from newsworker.storage.models import Delivery, DeliveryStatus, OutboxEvent

# Bound parameters per IN query: far below SQLite's 32,766 and PostgreSQL's 65,535.
KEY_LOOKUP_CHUNK = 2_000


class EnqueuedEvents(NamedTuple):
    """What enqueue_story_batch did: how many events were new, and every key's event id."""

    new: int
    ids: dict[str, int]


def enqueue_story_batch(
    *, session: Session, payloads: Sequence[dict[str, Any]], sinks: Sequence[str]
) -> EnqueuedEvents:
    """Add many story events with their pending deliveries; return the new count and all ids.

    Idempotent on idempotency_key: keys already stored (or repeated in payloads) are skipped,
    and their stored ids returned. One batched INSERT ... ON CONFLICT DO NOTHING RETURNING of
    the events (a SELECT only for the keys it skipped, which are rare) and one executemany of
    the deliveries, with no ORM objects.
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


def event_columns() -> tuple[Any, ...]:
    """The columns event_data reads, to select alongside others."""
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


def event_data(row: Sequence[Any]) -> OutboxEventData:
    """An event as sinks see it, from a row of event_columns."""
    return OutboxEventData(
        id=row[0],
        story_id=row[1],
        revision=row[2],
        event=row[3],
        idempotency_key=row[4],
        payload_json=row[5],
        created_at=row[6],
    )


def iter_events_since(
    *, session: Session, since: datetime, batch_size: int = 500
) -> Iterator[list[OutboxEventData]]:
    """Yield stored outbox events created at or after since, in batches, oldest first."""
    last_id = 0
    while True:
        statement = (
            select(*event_columns())
            .where(col(OutboxEvent.created_at) >= since, col(OutboxEvent.id) > last_id)
            .order_by(col(OutboxEvent.id))
            .limit(batch_size)
        )
        batch = [event_data(row) for row in session.execute(statement).all()]
        if not batch:
            return
        yield batch
        last_id = batch[-1].id
