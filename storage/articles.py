"""Session-first functions over stored articles: lookups, bulk insert, near-duplicate signatures."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session, col, select

from newsworker.storage.models import ArticleRecord


def articles_by_entry_key(
    *, session: Session, feed_id: int, entry_keys: Collection[str]
) -> dict[str, ArticleRecord]:
    """The feed's stored articles for these entry keys."""
    if not entry_keys:
        return {}
    query = select(ArticleRecord).where(
        ArticleRecord.feed_id == feed_id, col(ArticleRecord.entry_key).in_(list(entry_keys))
    )
    return {row.entry_key: row for row in session.exec(query).all()}


def insert_articles(*, session: Session, feed_id: int, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert one feed's new article rows; return their ids in the order of rows."""
    if not rows:
        return []
    table: Table = ArticleRecord.__table__  # type: ignore[attr-defined]
    # RETURNING the key with the id, not in parameter order: ordered RETURNING runs one
    # statement per row on SQLite, unordered is batched into multi-row INSERTs on both databases.
    returned = session.connection().execute(
        insert(table).returning(table.c.entry_key, table.c.id),
        [{**row, "feed_id": feed_id} for row in rows],
    )
    ids: dict[str, int] = {key: row_id for key, row_id in returned}
    return [ids[str(row["entry_key"])] for row in rows]


def articles_by_id(*, session: Session, ids: Collection[int]) -> dict[int, ArticleRecord]:
    """Stored articles by id."""
    if not ids:
        return {}
    query = select(ArticleRecord).where(col(ArticleRecord.id).in_(list(ids)))
    return {row.id: row for row in session.exec(query).all() if row.id is not None}


def articles_by_canonical_url(
    *, session: Session, canonical_urls: Collection[str]
) -> dict[str, ArticleRecord]:
    """The first stored article (lowest id) for each canonical URL, in any feed."""
    if not canonical_urls:
        return {}
    query = (
        select(ArticleRecord)
        .where(col(ArticleRecord.canonical_url).in_(list(canonical_urls)))
        .order_by(col(ArticleRecord.id))
    )
    found: dict[str, ArticleRecord] = {}
    for row in session.exec(query).all():
        if row.canonical_url is not None:
            found.setdefault(row.canonical_url, row)
    return found


def stories_with_articles_of_feed(
    *, session: Session, feed_id: int, story_ids: Collection[str]
) -> set[str]:
    """Which of these stories already hold an article of this feed."""
    if not story_ids:
        return set()
    query = (
        select(ArticleRecord.story_id)
        .where(ArticleRecord.feed_id == feed_id, col(ArticleRecord.story_id).in_(list(story_ids)))
        .distinct()
    )
    return set(session.exec(query).all())


def _signature_rows() -> Any:
    """SELECT of (id, story_id, signature, discovered_at), the near-duplicate index's rows."""
    return select(
        ArticleRecord.id,
        ArticleRecord.story_id,
        ArticleRecord.signature,
        ArticleRecord.discovered_at,
    )


def signatures_after(
    *, session: Session, after_id: int, since: datetime, limit: int = 20_000
) -> Sequence[tuple[int, str, str, datetime]]:
    """(id, story_id, signature, discovered_at) of articles past an id, newest `limit`, by id."""
    query = (
        _signature_rows()
        .where(
            col(ArticleRecord.id) > after_id,
            ArticleRecord.discovered_at >= since,
            col(ArticleRecord.signature).is_not(None),
        )
        .order_by(col(ArticleRecord.id).desc())
        .limit(limit)
    )
    rows = [
        (row_id, story_id, signature, discovered_at)
        for row_id, story_id, signature, discovered_at in session.exec(query).all()
        if row_id is not None and signature
    ]
    rows.reverse()
    return rows


def signatures_of(
    *, session: Session, ids: Collection[int], since: datetime
) -> Sequence[tuple[int, str, str, datetime]]:
    """(id, story_id, signature, discovered_at) of these articles discovered since a time, by id."""
    if not ids:
        return []
    query = (
        _signature_rows()
        .where(
            col(ArticleRecord.id).in_(list(ids)),
            ArticleRecord.discovered_at >= since,
            col(ArticleRecord.signature).is_not(None),
        )
        .order_by(col(ArticleRecord.id))
    )
    return [
        (row_id, story_id, signature, discovered_at)
        for row_id, story_id, signature, discovered_at in session.exec(query).all()
        if row_id is not None and signature
    ]
