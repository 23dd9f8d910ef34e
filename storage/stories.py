"""Session-first functions over stories and their entity rows: the story writer's statements."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlmodel import Session, SQLModel, col, select

from newsworker.storage.models import Story, StoryEntity

# Story ids per DELETE ... IN, well under either database's bound-parameter limit.
_DELETE_CHUNK = 1_000


def _table(model: type[SQLModel]) -> Table:
    """The Core table of a model: Core executemany skips the ORM's per-row bulk bookkeeping."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def stories_by_id(*, session: Session, story_ids: Collection[str]) -> dict[str, Story]:
    """Stored stories by id."""
    if not story_ids:
        return {}
    query = select(Story).where(col(Story.story_id).in_(list(story_ids)))
    return {row.story_id: row for row in session.exec(query).all()}


def find_story(*, session: Session, story_id: str) -> Story | None:
    """The stored story with this id (from the session's identity map when loaded), or None."""
    return session.get(Story, story_id)


def insert_stories(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new story rows in one Core executemany."""
    if rows:
        session.connection().execute(insert(_table(Story)), rows)


def delete_story_entities(*, session: Session, story_ids: Sequence[str]) -> None:
    """Delete the entity rows of these stories, in chunks of ids."""
    for start in range(0, len(story_ids), _DELETE_CHUNK):
        session.execute(
            delete(StoryEntity).where(
                col(StoryEntity.story_id).in_(story_ids[start : start + _DELETE_CHUNK])
            )
        )


def insert_story_entities(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert (story_id, profile_id, profile_version) rows in one Core executemany."""
    if rows:
        session.connection().execute(insert(_table(StoryEntity)), rows)
