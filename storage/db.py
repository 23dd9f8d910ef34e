"""The one place that creates database engines."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine


def sqlalchemy_url(database_url: str) -> str:
    """Accept URLs the way ops write them: postgresql:// and postgres:// mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the publisher read while a poll writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL less often: one commit per feed batch made the default (1,000 pages)
    # checkpoint often enough to cost more than half of commit time in the pipeline bench.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def json_text(value: Any) -> str:
    """JSON for the JSON columns: orjson is several times faster than json on story payloads."""
    return orjson.dumps(value).decode()


# Every story is written twice as JSON (story row, outbox event): the encoder is on the hot path.
_JSON_CODECS: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


def create_db_engine(database_url: str, *, pool: bool = True) -> Engine:
    """Create an engine for SQLite or PostgreSQL with the settings each needs."""
    url = sqlalchemy_url(database_url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON_CODECS
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True, **_JSON_CODECS}
    if not pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=5, max_overflow=5, pool_recycle=1800)
    return create_engine(url, **kwargs)


_engines: dict[str, Engine] = {}


def get_engine(database_url: str) -> Engine:
    """The process-wide engine for a URL; forked children must call dispose_engines()."""
    engine = _engines.get(database_url)
    if engine is None:
        engine = _engines[database_url] = create_db_engine(database_url)
    return engine


def dispose_engines() -> None:
    """Drop inherited pooled connections after a fork, without closing the parent's sockets."""
    for engine in _engines.values():
        engine.dispose(close=False)


def session_for(database_url: str) -> Session:
    """A new session on the process-wide engine for database_url."""
    return Session(get_engine(database_url), expire_on_commit=False)
