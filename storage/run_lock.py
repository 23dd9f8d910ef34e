"""One `newsworker run` per store: a lock held for the whole run, refused (not waited on) if taken.

Two embedded runs on one store would poll the same feeds at once (with `--all`, or when one
claims feeds while the other's round is still storing them) and race on the same article rows.
The fleet does not need this: its polls take per-feed locks in Redis. A SQLite store is locked
with `flock` on a file next to the database, a PostgreSQL store with a session advisory lock on
a connection of its own; both go away with the process, so a killed run leaves no stale lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from newsworker.storage.db import create_db_engine, sqlalchemy_url
from newsworker.storage.wal import sqlite_file

# Per schema, so that runs on separate schemas of one database do not exclude each other.
_ADVISORY_LOCK = text(
    "SELECT pg_try_advisory_lock(hashtext('newsworker run ' || current_schema()))"
)


class StoreBusy(RuntimeError):
    """Another `newsworker run` holds the store."""


def lock_file_of(database_url: str) -> str | None:
    """The lock file next to a SQLite database file; None for other stores."""
    path = sqlite_file(database_url)
    return f"{path}.run-lock" if path else None


@contextmanager
def hold_store(database_url: str) -> Iterator[None]:
    """Hold the store's run lock while the block runs; StoreBusy at once if another run has it."""
    if sqlalchemy_url(database_url).startswith("postgresql"):
        with _advisory_lock(database_url):
            yield
        return
    path = lock_file_of(database_url)
    if path is None:  # in-memory SQLite: nothing else can open it
        yield
        return
    with _file_lock(path):
        yield


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise StoreBusy(
                f"another `newsworker run` holds the store (lock file {path}); try again later"
            ) from e
        yield
    finally:
        # Closing the descriptor releases the lock; the file stays, empty, for the next run.
        os.close(fd)


@contextmanager
def _advisory_lock(database_url: str) -> Iterator[None]:
    # Its own engine without a pool: processes the run forks dispose the shared engines' pools,
    # and this connection must stay the parent's alone for the lock to last the run.
    engine = create_db_engine(database_url, pool=False)
    try:
        with engine.connect() as connection:
            if not connection.execute(_ADVISORY_LOCK).scalar():
                raise StoreBusy(
                    "another `newsworker run` holds the store (PostgreSQL advisory lock on "
                    "this schema); try again later"
                )
            connection.commit()
            yield
    finally:
        engine.dispose()
