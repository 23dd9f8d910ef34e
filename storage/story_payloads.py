"""Stored stories' latest payloads, read for the CLI, the demo and re-publishing.

A story's last outbox event holds its latest payload, so these read Story joined to that event.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from newsworker.storage.models import OutboxEvent, Story


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
    """The latest payload of each stored story, by story id."""
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
