"""Shared fixtures: SQLite and PostgreSQL engines, Redis, a local HTTP server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import newsworker.storage.models  # noqa: F401  (registers the tables)
from newsworker.storage.db import create_db_engine
from tests.support.fleet import kill_leftovers
from tests.support.http import LocalHTTPServer
from tests.support.paths import SHARED
from tests.support.services import POSTGRES_URL, REDIS_HOST, REDIS_PORT, require_service


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder (corpus and samples)."""
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is missing")
    return SHARED


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file URL."""
    return f"sqlite:///{tmp_path / 'newsworker.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; skips locally without PostgreSQL, fails in CI."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(POSTGRES_URL, pool=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine with every table created (migrations are tested separately)."""
    eng = create_db_engine(database_url)
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test engine."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


def _redis_test_db() -> int:
    """NEWSWORKER_TEST_REDIS_DB, else 15; each pytest-xdist worker takes its own database below."""
    explicit = os.environ.get("NEWSWORKER_TEST_REDIS_DB")
    if explicit:
        return int(explicit)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ...
    return 15 - int(worker.removeprefix("gw") or 0)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database reserved for tests (NEWSWORKER_TEST_REDIS_DB, default 15), flushed."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{_redis_test_db()}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """Kill any worker or beat a test started and left running (even after a failure)."""
    yield

    kill_leftovers()


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on 127.0.0.1 with routes set by the test."""
    server = LocalHTTPServer().start()
    yield server
    server.stop()
