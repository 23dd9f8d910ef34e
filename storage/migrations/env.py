"""Alembic environment: runs against the engine newsworker.storage.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import newsworker.storage.models  # noqa: F401  (registers the tables)
from newsworker.storage.db import create_db_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or "", pool=False)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `newsworker db upgrade`")
run_migrations_online()
