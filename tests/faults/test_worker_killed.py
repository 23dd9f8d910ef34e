"""SIGKILL a real worker at 20 random points: every entry still ends as exactly one story.

Two kinds of kill, both SIGKILL at a random moment while polls and publishes are in flight:
- the whole worker (main process and pool, one process group): its unacked messages come back
  after the broker's visibility timeout, and `dispatch --all` re-dispatches every feed;
- one pool child: Celery sees the child lost and, with task_reject_on_worker_lost, requeues the
  task at once.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.faults.corpus import (
    assert_each_entry_one_story,
    enqueue_polls,
    feed_ids,
    queue_length,
    register_feeds,
    send_task,
    serve_corpus,
    store_state,
    stream_events,
    worker_env,
)
from tests.support.fleet import Process, child_pids, run_cli, start_worker, wait_for
from tests.support.http import LocalHTTPServer

pytestmark = [pytest.mark.fleet, pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]
FEEDS, ENTRIES = 20, 10
WHOLE_WORKER_KILLS, CHILD_KILLS = 2, 18
FAST_START = ("--without-mingle", "--without-gossip")


def _kill_a_child(worker: Process, rng: random.Random) -> bool:
    # Right after a kill the pool may still be respawning: wait for a child to exist.
    wait_for(lambda: bool(child_pids(worker.popen.pid)), timeout=5, interval=0.05)
    children = child_pids(worker.popen.pid)
    if not children:
        return False
    try:
        os.kill(rng.choice(children), signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def test_sigkill_at_20_random_points_loses_nothing_and_duplicates_share_their_key(
    tmp_path: Path, http_server: LocalHTTPServer, redis_url: str, postgres_url: str
) -> None:
    # Each feed answers after 0.1 s, so a round of 20 polls on 2 children spans the kill window.
    urls = serve_corpus(http_server, FEEDS, ENTRIES, delay_seconds=0.1)
    env = worker_env(postgres_url, redis_url, tmp_path)
    run_cli(env, "db", "upgrade")
    register_feeds(postgres_url, urls)
    ids = feed_ids(postgres_url)
    rng = random.Random(8)
    # 20 kills: 2 of the whole worker (the last one last), 18 of one pool child, in seeded order.
    schedule = ["child"] * CHILD_KILLS + ["worker"] * (WHOLE_WORKER_KILLS - 1)
    rng.shuffle(schedule)
    schedule.append("worker")
    started = time.monotonic()
    kills = mid_work = 0
    worker: Process | None = None
    fresh = False
    for kind in schedule:
        if worker is None:
            worker = start_worker(env, tmp_path / f"worker{kills}.log", *FAST_START)
            fresh = True
        if queue_length(redis_url) < FEEDS // 2:
            enqueue_polls(redis_url, ids)
        if fresh:
            # Celery checks its pool once, just after "ready": a child lost before that check
            # stops the whole worker ("Could not start worker processes"). Its event loop runs
            # after the check, so the first task received means the check is behind us.
            wait_for(lambda w=worker: "] received" in w.output(), timeout=15, interval=0.05)
            fresh = False
        time.sleep(rng.uniform(0.1, 1.0))
        mid_work += queue_length(redis_url) > 0
        if kind == "child":
            kills += _kill_a_child(worker, rng)
        else:
            worker.kill()
            worker.stop()  # closes its log
            worker = None
            kills += 1
    assert kills == WHOLE_WORKER_KILLS + CHILD_KILLS

    killing_done = time.monotonic()
    # Recovery: a fresh worker, `dispatch --all` and the beat's publish until all is out.
    worker = start_worker(env, tmp_path / "worker-final.log", *FAST_START)
    expected = FEEDS * ENTRIES

    def settled() -> bool:
        state = store_state(postgres_url)
        if len(state.stories) == expected and state.unsent == 0:
            return True
        send_task(redis_url, "newsworker.publish_pending")
        return False

    try:
        # A poll killed while holding its feed lock leaves it for feed_lock_seconds: a second
        # dispatch after that picks up any feed whose poll found the lock still taken.
        for _round in range(3):
            run_cli(env, "dispatch", "--all")
            if wait_for(settled, timeout=20, interval=1.0):
                break
        assert settled(), f"not settled: {store_state(postgres_url)}\n{worker.output()[-3000:]}"
        figures = assert_each_entry_one_story(
            store_state(postgres_url), stream_events(redis_url), expected
        )
    finally:
        worker.stop()
    assert mid_work >= kills // 2, f"only {mid_work} of {kills} kills hit work in progress"
    print(
        f"kills={kills} mid_work={mid_work} {figures} "
        f"kill_phase={killing_done - started:.1f}s recovery={time.monotonic() - killing_done:.1f}s"
    )


def test_a_killed_workers_reserved_polls_run_again_soon_after_a_restart(
    tmp_path: Path, http_server: LocalHTTPServer, redis_url: str, postgres_url: str
) -> None:
    """No `dispatch --all`: the restarted worker alone brings the dead one's polls back."""
    feeds, entries, visibility = 12, 10, 12
    urls = serve_corpus(http_server, feeds, entries, delay_seconds=0.5)
    # A poll may hold its lock for 300 s, as in production: only its liveness frees it early.
    env = worker_env(
        postgres_url,
        redis_url,
        tmp_path,
        feed_lock_seconds="300",
        visibility_timeout_seconds=str(visibility),
    )
    run_cli(env, "db", "upgrade")
    register_feeds(postgres_url, urls)
    worker = start_worker(env, tmp_path / "worker-killed.log", *FAST_START)
    enqueue_polls(redis_url, feed_ids(postgres_url))
    wait_for(lambda: worker.output().count("] received") >= 2, timeout=15, interval=0.05)
    time.sleep(1.0)  # two polls mid-fetch, two more reserved
    worker.kill()
    worker.stop()
    killed = time.monotonic()
    in_store = len(store_state(postgres_url).stories)
    expected = feeds * entries
    assert in_store < expected, "the worker finished before it was killed"

    worker = start_worker(env, tmp_path / "worker-restarted.log", *FAST_START)

    def settled() -> bool:
        state = store_state(postgres_url)
        if len(state.stories) == expected and state.unsent == 0:
            return True
        send_task(redis_url, "newsworker.publish_pending")
        return False

    try:
        assert wait_for(settled, timeout=60, interval=0.5), (
            f"not settled 60 s after the kill: {len(store_state(postgres_url).stories)} of "
            f"{expected} stories\n{worker.output()[-3000:]}"
        )
        recovered = time.monotonic() - killed
        figures = assert_each_entry_one_story(
            store_state(postgres_url), stream_events(redis_url), expected
        )
    finally:
        worker.stop()
    # One visibility timeout, one sweep and the polls themselves; far from the old hour.
    assert recovered < 4 * visibility, f"recovered after {recovered:.1f} s"
    print(f"stored_at_kill={in_store} recovered={recovered:.1f}s {figures}")
