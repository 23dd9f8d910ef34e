"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from storage.db import create_db_engine
from storage.migrate import current_revision, head_revision, is_at_head, upgrade


def test_migrations_match_models(database_url: str) -> None:
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    assert is_at_head(database_url)
    engine = create_db_engine(database_url, pool=False)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    upgrade(sqlite_url)
    assert is_at_head(sqlite_url)
