"""Pooled PostgreSQL connections: pinged after sitting idle, not on every checkout."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from newsworker.storage import db
from newsworker.storage.db import create_db_engine

pytestmark = pytest.mark.postgres


def _backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_idle_connection_closed_by_the_server_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_db_engine(postgres_url)
    admin = create_db_engine(postgres_url, pool=False)
    try:
        first = _backend_pid(engine)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        time.sleep(0.01)
        # The dead connection fails its ping and is swapped for a new one: no error here.
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
        admin.dispose()


def test_busy_connection_skips_the_ping(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_db_engine(postgres_url)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return bool(real_ping(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    # The threshold is read at each checkout: a long one makes any checkout "recent".
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 60.0)
    try:
        pid = _backend_pid(engine)
        assert _backend_pid(engine) == pid  # used moments ago: the same connection, no ping
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        time.sleep(0.01)
        assert _backend_pid(engine) == pid  # idle past the threshold: pinged, still alive
        assert len(pings) == 1
    finally:
        engine.dispose()
