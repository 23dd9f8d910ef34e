"""Background WAL checkpoints for SQLite, so the committing thread does not copy pages home.

In WAL mode a commit appends pages to the -wal file; a checkpoint later copies them into the
database file and syncs it. Left to SQLite, the commit that crosses wal_autocheckpoint does that
work itself: in the pipeline bench most of commit time went to it. While `newsworker run`
ingests, a thread of its own runs PASSIVE checkpoints, which never wait for or block readers
and writers; the writers' wal_autocheckpoint stays on as the fallback.

Started only around work that forks nothing that uses SQLite afterwards: a child forked while
this thread is inside SQLite could inherit one of SQLite's mutexes held.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

log = logging.getLogger("newsworker.storage")

CHECKPOINT_INTERVAL_SECONDS = 0.1


def sqlite_file(database_url: str) -> str | None:
    """The database file of a sqlite:/// URL; None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


@contextmanager
def background_checkpoints(
    database_url: str, *, interval_seconds: float = CHECKPOINT_INTERVAL_SECONDS
) -> Iterator[None]:
    """While the block runs, checkpoint a SQLite database's WAL from a thread of its own."""
    path = sqlite_file(database_url)
    if path is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_checkpoint_until,
        args=(path, stop, interval_seconds),
        name="newsworker-wal-checkpoint",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _checkpoint_until(path: str, stop: threading.Event, interval_seconds: float) -> None:
    try:
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.Error as e:
        log.warning(
            "cannot open the database for WAL checkpoints", extra={"path": path, "error": str(e)}
        )
        return
    try:
        while not stop.wait(interval_seconds):
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as e:  # busy or locked: the next round tries again
                log.debug("WAL checkpoint skipped", extra={"path": path, "error": str(e)})
    finally:
        connection.close()
