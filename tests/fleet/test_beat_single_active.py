"""Two real `newsworker beat` processes at once: only one dispatches; the standby takes over."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.support.fleet import Process, fleet_env, wait_for

pytestmark = [pytest.mark.fleet, pytest.mark.redis, pytest.mark.slow]
LOCK_TIMEOUT = 4


def _dispatch_origins(client: redis.Redis) -> list[int]:
    """The pid of the beat that sent each dispatch message waiting on the `dispatch` queue."""
    pids = []
    for raw in client.lrange("dispatch", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "newsworker.dispatch_due_feeds"
        origin = message["headers"]["origin"]  # "gen<pid>@<host>"
        pids.append(int(origin.split("@", 1)[0].removeprefix("gen")))
    return pids


def test_two_beats_never_both_dispatch_and_the_standby_takes_over(
    tmp_path: Path, redis_url: str
) -> None:
    env = fleet_env(
        database_url=f"sqlite:///{tmp_path / 'beat.db'}",
        broker_url=redis_url,
        redis_url=redis_url,
        dispatch_interval_seconds="1",
        beat_lock_timeout_seconds=str(LOCK_TIMEOUT),
    )
    client = redis.Redis.from_url(redis_url)
    beats = [Process(env, ["beat"], tmp_path / f"beat{n}.log") for n in range(2)]
    try:
        assert wait_for(lambda: len(_dispatch_origins(client)) >= 6, timeout=30), [
            b.output()[-2000:] for b in beats
        ]
        window_start = len(_dispatch_origins(client))
        time.sleep(4)
        origins = _dispatch_origins(client)
        senders = Counter(origins)
        assert len(senders) == 1, f"two beats dispatched: {senders}"
        # One dispatch per second from the one active beat, not two.
        assert len(origins) - window_start <= 4 + 2
        active_pid = next(iter(senders))
        active = next(b for b in beats if b.popen.pid == active_pid)
        standby = next(b for b in beats if b is not active)
        assert standby.popen.poll() is None

        # SIGKILL: the lock is not released, the standby must wait for it to expire.
        os.killpg(active.popen.pid, signal.SIGKILL)
        active.popen.wait(10)
        killed_at = time.monotonic()
        took_over = wait_for(
            lambda: standby.popen.pid in _dispatch_origins(client), timeout=LOCK_TIMEOUT + 12
        )
        takeover_seconds = time.monotonic() - killed_at
        assert took_over, standby.output()[-3000:]
        # Lock expiry plus at most one standby retry interval (beat_max_loop_interval = 5 s).
        assert takeover_seconds < LOCK_TIMEOUT + 5 + 3
        assert set(_dispatch_origins(client)) == {active_pid, standby.popen.pid}
    finally:
        for beat in beats:
            beat.stop(timeout=10)
        client.close()
