"""Alembic migrations, driven from code: `newsworker db upgrade` and `newsworker db current`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from newsworker.storage.db import create_db_engine, sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and this database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to revision (head by default)."""
    config = alembic_config(database_url)
    engine = create_db_engine(database_url, pool=False)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration revision in the code."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(database_url: str) -> str | None:
    """The revision the database is migrated to, or None when it has none."""
    engine = create_db_engine(database_url, pool=False)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_at_head(database_url: str) -> bool:
    """True when the database is migrated to the newest revision."""
    return current_revision(database_url) == head_revision()
