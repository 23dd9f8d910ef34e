"""A redelivered poll that finds its feed still locked (by a dead poll) looks once more later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.coordination import lock_lease_within
from newsworker.storage.migrate import upgrade
from newsworker.tasks import celery_tasks
from newsworker.tasks.runtime import Runtime, build_runtime, set_runtime


class Retried(Exception):
    """What the stand-in for Task.retry raises."""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'redelivered.db'}", broker_url=None,
        redis_url=None, jsonl_path=None, allow_private_addresses=True,
    )  # fmt: skip
    upgrade(settings.database_url)
    built = build_runtime(settings)
    set_runtime(built)
    yield built
    set_runtime(None)
    # The in-process lock store outlives this runtime: free what the test locked.
    for feed_id, token in _HELD:
        built.context.coordinator.end_poll(feed_id, token, outcome=None)
    _HELD.clear()


_HELD: list[tuple[int, str]] = []


def _locked_feed(runtime: Runtime) -> int:
    with runtime.session() as session:
        feed, _ = feed_store.add_feed(session=session, url="http://127.0.0.1:9/feed.xml")
        session.commit()
        assert feed.id is not None
    token = runtime.context.coordinator.begin_poll(  # a poll whose worker died mid-fetch
        feed.id, lock_seconds=60, host="", max_wait_seconds=0
    ).token
    assert token
    _HELD.append((feed.id, token))
    return feed.id


def _run(feed_id: int, monkeypatch: pytest.MonkeyPatch, **request: Any) -> list[dict[str, Any]]:
    retries: list[dict[str, Any]] = []

    def retry(**options: Any) -> Exception:
        retries.append(options)
        return Retried()

    task = celery_tasks.poll_feed
    monkeypatch.setattr(task, "retry", retry)
    task.push_request(id="t1", **request)
    try:
        task.run(feed_id)
    except Retried:
        pass
    finally:
        task.pop_request()
    return retries


def test_a_redelivered_poll_retries_once_after_a_lock_lease(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_id = _locked_feed(runtime)
    lease = lock_lease_within(runtime.settings.visibility_timeout_seconds)
    retries = _run(feed_id, monkeypatch, delivery_info={"redelivered": True}, retries=0)
    assert [r["countdown"] for r in retries] == [lease + 1.0]
    # Its own retry, or a first delivery, finding the lock: a copy of a running poll, a no-op.
    assert _run(feed_id, monkeypatch, delivery_info={"redelivered": False}, retries=0) == []
    assert _run(feed_id, monkeypatch, delivery_info={"redelivered": True}, retries=1) == []
