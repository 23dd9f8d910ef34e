"""The one place that creates database engines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlmodel import Session, create_engine


def sqlalchemy_url(database_url: str) -> str:
    """Accept URLs the way ops write them: postgresql:// and postgres:// mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


class DatabaseLocationError(ValueError):
    """A SQLite URL whose folder does not exist: refused rather than starting a store elsewhere."""


def check_sqlite_folder(database_url: str) -> None:
    """Raise DatabaseLocationError when a file-backed SQLite URL names a missing folder."""
    url = make_url(sqlalchemy_url(database_url))
    database = url.database or ""
    if url.query.get("uri") or database in ("", ":memory:") or database.startswith("file:"):
        return
    folder = Path(database).parent
    if not folder.is_dir():
        raise DatabaseLocationError(
            f"NEWSWORKER_DATABASE_URL: the folder {folder.resolve()} of {database_url} does not "
            "exist; create it or point the URL at an existing folder"
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the publisher read while a poll writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL less often: one commit per feed batch made the default (1,000 pages)
    # checkpoint often enough to cost more than half of commit time in the pipeline bench.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    # Up to 64 MiB of pages per connection (the default is 2 MiB): story ids are random UUIDs,
    # so their index pages are touched all over, and with the default cache they were read back
    # from the file again and again (about 10% of the pipeline bench's wall time).
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def json_text(value: Any) -> str:
    """JSON for the JSON columns: orjson is several times faster than json on story payloads."""
    return orjson.dumps(value).decode()


# Every story is written twice as JSON (story row, outbox event): the encoder is on the hot path.
_JSON_CODECS: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


# A pooled connection idle longer than this is pinged before use. pool_pre_ping pinged on every
# checkout: one extra round trip per poll, about 10% of a worker child's CPU in a 304 round.
# A connection that broke within this window fails its task, which Celery retries.
PING_AFTER_IDLE_SECONDS = 1.0


def _stamp_idle_start(_dbapi_connection: Any, record: ConnectionPoolEntry, *_: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _idle_aware_ping(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it sat idle, as pool_pre_ping would."""

    def on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since", 0.0)
        if time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            # The pool discards this connection and checks out (or opens) another one.
            raise DisconnectionError(f"pooled connection failed its ping: {e}") from e

    event.listen(engine, "connect", _stamp_idle_start)
    event.listen(engine, "checkin", _stamp_idle_start)
    event.listen(engine, "checkout", on_checkout)


def create_db_engine(database_url: str, *, pool: bool = True) -> Engine:
    """Create an engine for SQLite or PostgreSQL with the settings each needs."""
    url = sqlalchemy_url(database_url)
    if url.startswith("sqlite"):
        check_sqlite_folder(database_url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON_CODECS
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs: dict[str, Any] = dict(_JSON_CODECS)
    if not pool:
        kwargs["poolclass"] = NullPool
        return create_engine(url, **kwargs)
    kwargs.update(pool_size=5, max_overflow=5, pool_recycle=1800)
    engine = create_engine(url, **kwargs)
    _idle_aware_ping(engine)
    return engine


_engines: dict[str, Engine] = {}


def get_engine(database_url: str) -> Engine:
    """The process-wide engine for a URL; forked children must call dispose_engines()."""
    engine = _engines.get(database_url)
    if engine is None:
        engine = _engines[database_url] = create_db_engine(database_url)
    return engine


def close_engine(database_url: str) -> None:
    """Close the process-wide engine for a URL and its connections (a database being dropped)."""
    engine = _engines.pop(database_url, None)
    if engine is not None:
        engine.dispose()


def dispose_engines() -> None:
    """Drop inherited pooled connections after a fork, without closing the parent's sockets."""
    for engine in _engines.values():
        engine.dispose(close=False)


def session_for(database_url: str) -> Session:
    """A new session on the process-wide engine for database_url."""
    return Session(get_engine(database_url), expire_on_commit=False)
