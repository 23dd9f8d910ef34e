"""Fixtures for the fault tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A dedicated redis-server (AOF on) the test may stop and restart."""
    with RedisServer(tmp_path / "redis") as server:
        yield server
