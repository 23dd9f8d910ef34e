"""The Celery app behaves as the fleet needs: late acks, requeue on a lost worker, routing, JSON.

Each test drives Celery's own machinery (the worker's request handling, its consumer, the
router, the serializer) with our app, so it fails when the behaviour breaks, whatever the setting.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import Mock

import pytest
import redis
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery import Celery
from celery._state import get_current_app
from celery.contrib.testing.mocks import TaskMessage
from celery.utils.time import get_exponential_backoff_interval
from celery.worker.request import Request
from kombu.exceptions import ContentDisallowed, EncodeError
from kombu.serialization import loads, prepare_accept_content

import newsworker.worker.signals as worker_signals
from newsworker.config.settings import load_settings
from newsworker.storage.coordination import lock_lease_within
from newsworker.tasks import celery_tasks as jobs
from newsworker.worker.app import create_app
from newsworker.worker.queues import DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE
from newsworker.worker.reservations import RenewReservations, renew_interval, renew_reservations

BROKER = "redis://127.0.0.1:6379/13"
EXPECTED_QUEUE = {
    "newsworker.dispatch_due_feeds": DISPATCH_QUEUE,
    "newsworker.poll_feed": POLL_QUEUE,
    "newsworker.publish_pending": PUBLISH_QUEUE,
    "newsworker.refresh_profile_stories": PUBLISH_QUEUE,
}


def _with_tasks(app: Celery) -> Celery:
    app.loader.import_default_modules()
    return app


@pytest.fixture
def app() -> Celery:
    return _with_tasks(create_app(load_settings(broker_url=BROKER)))


def _ours(app: Celery) -> list[str]:
    return sorted(name for name in app.tasks if name.startswith("newsworker."))


def _request(app: Celery, name: str) -> tuple[Request, Mock, Mock]:
    """A worker-side request for one of our tasks, with the ack and reject callbacks observed."""
    on_ack, on_reject = Mock(), Mock()
    message = TaskMessage(name, args=(1,) if name == "newsworker.poll_feed" else ())
    request = Request(message, app=app, task=app.tasks[name], on_ack=on_ack, on_reject=on_reject)
    return request, on_ack, on_reject


def _failure(exc: BaseException) -> ExceptionInfo:
    try:
        raise exc
    except type(exc):
        return ExceptionInfo()


def test_our_task_names_are_the_ones_routed(app: Celery) -> None:
    assert _ours(app) == sorted(EXPECTED_QUEUE)


@pytest.mark.parametrize("name", sorted(EXPECTED_QUEUE))
def test_a_task_is_acked_only_after_it_ran(app: Celery, name: str) -> None:
    request, on_ack, _ = _request(app, name)
    request.on_accepted(pid=1234, time_accepted=0.0)
    assert not on_ack.called, "acked on receipt: a crash mid-task would lose it"
    request.on_success((False, None, 0.1))
    assert on_ack.called


@pytest.mark.parametrize("name", sorted(EXPECTED_QUEUE))
def test_a_task_whose_worker_child_died_goes_back_to_the_queue(app: Celery, name: str) -> None:
    request, on_ack, on_reject = _request(app, name)
    request.on_accepted(pid=1234, time_accepted=0.0)
    request.on_failure(_failure(WorkerLostError("killed by SIGKILL")))
    assert not on_ack.called
    assert on_reject.call_count == 1
    assert on_reject.call_args.args[2] is True, "rejected without requeue: the task is lost"


@pytest.mark.redis
def test_every_task_sent_lands_in_the_redis_list_of_its_queue(redis_url: str) -> None:
    app = _with_tasks(create_app(load_settings(broker_url=redis_url)))
    client = redis.Redis.from_url(redis_url)
    try:
        for name in _ours(app):
            app.tasks[name].apply_async(args=(1,) if name == "newsworker.poll_feed" else ())
        depths = {
            queue: client.llen(queue) for queue in (DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE)
        }
        expected = {queue: list(EXPECTED_QUEUE.values()).count(queue) for queue in depths}
        assert depths == expected
        assert client.llen("celery") == 0
    finally:
        client.close()


def test_the_worker_takes_one_task_per_process_and_retries_the_broker_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker_init handler would build the matcher from the default store: not this test's.
    monkeypatch.setattr(worker_signals, "prebuild_matcher", lambda: False)
    monkeypatch.setattr(worker_signals, "load_language_model", lambda: None)
    app = create_app(load_settings(broker_url="redis://127.0.0.1:1/0"))
    app.conf.broker_connection_max_retries = 1  # forever in production; one retry shows it
    worker = app.WorkController(
        concurrency=4, pool_cls="solo", without_heartbeat=True, without_mingle=True
    )
    consumer = worker.consumer
    assert consumer.initial_prefetch_count == 4, "prefetching starves the other processes"
    attempts: list[Any] = []
    monkeypatch.setattr("celery.worker.consumer.consumer.error", lambda *a, **k: attempts.append(a))
    monkeypatch.setattr("kombu.utils.functional.sleep", lambda _: None)
    with pytest.raises(Exception, match="Connection refused"):
        consumer.connect()
    assert attempts, "the first broker failure at startup ended the worker without a retry"


def test_no_countdown_retry_schedule_or_lease_outlives_the_visibility_timeout(app: Celery) -> None:
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    longest_retry = 0.0
    for name in _ours(app):
        task = app.tasks[name]
        if not getattr(task, "autoretry_for", ()):
            continue
        # The countdown Celery's autoretry computes for the last attempt (its defaults included).
        longest_retry = max(
            longest_retry,
            get_exponential_backoff_interval(
                factor=int(max(1.0, float(getattr(task, "retry_backoff", False)))),
                retries=task.max_retries if task.max_retries is not None else 100,
                maximum=int(getattr(task, "retry_backoff_max", 600)),
                full_jitter=False,
            ),
        )
    assert 0 < longest_retry < visibility
    assert visibility > jobs.PUBLISH_COALESCE_SECONDS
    for entry in app.conf.beat_schedule.values():
        assert float(entry["schedule"]) < visibility
    # A poll killed at its hard time limit is redelivered (one visibility timeout and one sweep
    # later) before the dispatch lease hands its feed out a second time.
    sweep = app.conf.broker_transport_options["unacked_restore_interval"]
    poll_limit = app.tasks["newsworker.poll_feed"].time_limit
    assert poll_limit + visibility + sweep < jobs.DISPATCH_LEASE.total_seconds()
    # ...and its feed lock has lapsed by then, so the redelivered copy polls instead of skipping.
    assert lock_lease_within(visibility) < visibility
    assert timedelta(minutes=15) > jobs.DISPATCH_LEASE, "a lost poll would wait 15 minutes"


def test_a_dead_workers_tasks_come_back_within_two_minutes_a_live_ones_are_renewed(
    app: Celery,
) -> None:
    options = app.conf.broker_transport_options
    visibility = options["visibility_timeout"]
    # kombu sweeps every interval x throttle seconds; its default throttle of 10 means 100 s.
    sweep = options["unacked_restore_interval"] * options["unacked_restore_throttle"]
    assert visibility + sweep <= 100, "a killed worker's polls would come back too late"
    assert options["unacked_mutex_expire"] <= 30
    assert RenewReservations in app.steps["consumer"]
    assert 3 * renew_interval(visibility) < visibility
    for name in _ours(app):
        task = app.tasks[name]
        assert task.soft_time_limit < task.time_limit, name
    with pytest.raises(ValueError, match="VISIBILITY_TIMEOUT"):
        create_app(load_settings(visibility_timeout_seconds=5))


@pytest.mark.redis
def test_renewed_reservations_stay_and_unrenewed_ones_go_back_to_the_queue(
    redis_url: str,
) -> None:
    app = _with_tasks(
        create_app(load_settings(broker_url=redis_url, visibility_timeout_seconds=30))
    )
    client = redis.Redis.from_url(redis_url)
    live, sweeper = app.connection_for_read(), app.connection_for_read()
    try:
        channel, other = live.default_channel, sweeper.default_channel
        for _ in range(2):
            jobs.poll_feed.apply_async(args=(1,))
        held = [channel.basic_get(POLL_QUEUE, no_ack=False) for _ in range(2)]
        assert all(held) and client.llen(POLL_QUEUE) == 0
        acked = held[1].delivery_tag
        channel.basic_ack(acked)
        tag = held[0].delivery_tag
        # Both were received a minute ago: past the visibility timeout.
        client.zadd(channel.unacked_index_key, {tag: time.time() - 60})
        assert renew_reservations(channel) == 1
        assert client.zscore(channel.unacked_index_key, acked) is None, "an acked one came back"
        other.qos.restore_visible(num=None, interval=1)
        assert client.llen(POLL_QUEUE) == 0, "a live worker's task was redelivered"
        # The worker dies: nobody renews, and the next sweep by any worker puts it back.
        client.zadd(channel.unacked_index_key, {tag: time.time() - 60})
        other.qos.restore_visible(num=None, interval=1)
        assert client.llen(POLL_QUEUE) == 1
    finally:
        live.release()
        sweeper.release()
        client.close()


def test_pickle_is_refused_and_non_json_arguments_cannot_be_sent(app: Celery) -> None:
    # "untrusted": refused by the app's accept list, not only by kombu's global pickle switch.
    with pytest.raises(ContentDisallowed, match="untrusted"):
        loads(
            pickle.dumps({"task": "newsworker.poll_feed"}),
            content_type="application/x-python-serialize",
            content_encoding="binary",
            accept=prepare_accept_content(app.conf.accept_content),
        )
    memory = _with_tasks(create_app(load_settings(broker_url="memory://")))
    with pytest.raises(EncodeError):
        memory.tasks["newsworker.poll_feed"].apply_async(args=(object(),))


def test_every_scheduled_task_exists_and_a_standby_beat_takes_over_within_a_minute_or_so(
    app: Celery,
) -> None:
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks
    assert app.conf.beat_scheduler == "redbeat.RedBeatScheduler"
    # RedBeat's default lock lasts 25 minutes: a dead beat would stop dispatching that long.
    assert app.conf.redbeat_lock_timeout <= 90


def test_task_events_are_opt_in(app: Celery) -> None:
    assert not app.conf.worker_send_task_events
    assert not app.conf.task_send_sent_event
    events = create_app(load_settings(broker_url=BROKER, task_events=True))
    assert events.conf.worker_send_task_events
    assert events.conf.task_send_sent_event


@pytest.fixture(autouse=True)
def _leave_the_current_app() -> Iterator[None]:
    """Apps built here must not stay the current app for later tests."""
    current = get_current_app()
    yield
    current.set_current()
