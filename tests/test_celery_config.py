"""The Celery configuration sets every correctness setting issue 7 asks for."""

from __future__ import annotations

import pytest

from newsworker.config.settings import load_settings
from newsworker.worker.app import (
    DISPATCH_QUEUE,
    POLL_QUEUE,
    PUBLISH_QUEUE,
    celery_config,
    create_app,
)


@pytest.fixture
def conf() -> dict[str, object]:
    return celery_config(load_settings(broker_url="redis://127.0.0.1:6379/13"))


def test_late_acks_and_redelivery_of_tasks_of_lost_workers(conf: dict[str, object]) -> None:
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is True
    assert conf["broker_connection_retry_on_startup"] is True
    assert isinstance(conf["worker_max_memory_per_child"], int)


def test_json_only(conf: dict[str, object]) -> None:
    assert conf["task_serializer"] == "json"
    assert conf["result_serializer"] == "json"
    assert conf["accept_content"] == ["json"]


def test_time_limits_stay_below_the_visibility_timeout(conf: dict[str, object]) -> None:
    visibility = conf["broker_transport_options"]["visibility_timeout"]  # type: ignore[index]
    soft, hard = conf["task_soft_time_limit"], conf["task_time_limit"]
    assert soft < hard < visibility  # type: ignore[operator]
    with pytest.raises(ValueError, match="VISIBILITY_TIMEOUT"):
        celery_config(load_settings(task_time_limit_seconds=600, visibility_timeout_seconds=600))


def test_no_schedule_retry_or_lease_longer_than_the_visibility_timeout(
    conf: dict[str, object],
) -> None:
    from newsworker.tasks import celery_tasks as jobs

    visibility = conf["broker_transport_options"]["visibility_timeout"]  # type: ignore[index]
    for entry in conf["beat_schedule"].values():  # type: ignore[attr-defined]
        assert float(entry["schedule"]) < visibility
    for task in (jobs.poll_feed, jobs.publish_pending):
        assert task.retry_backoff_max < visibility
    assert jobs.DISPATCH_LEASE.total_seconds() < visibility


def test_three_queues_and_the_routes_to_them(conf: dict[str, object]) -> None:
    names = {queue.name for queue in conf["task_queues"]}  # type: ignore[attr-defined]
    assert names == {DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE}
    routes = conf["task_routes"]
    assert routes["newsworker.dispatch_due_feeds"]["queue"] == DISPATCH_QUEUE  # type: ignore[index]
    assert routes["newsworker.poll_feed"]["queue"] == POLL_QUEUE  # type: ignore[index]
    assert routes["newsworker.publish_pending"]["queue"] == PUBLISH_QUEUE  # type: ignore[index]


def test_events_for_flower_and_one_beat_through_redbeat(conf: dict[str, object]) -> None:
    assert conf["worker_send_task_events"] is False  # opt-in: a PUBLISH per task state
    assert conf["task_send_sent_event"] is False
    events = celery_config(load_settings(broker_url="redis://127.0.0.1:6379/13", task_events=True))
    assert events["worker_send_task_events"] is True
    assert events["task_send_sent_event"] is True
    assert conf["beat_scheduler"] == "redbeat.RedBeatScheduler"
    # RedBeat's default lock lasts 25 minutes; a standby must take over within about a minute.
    assert conf["redbeat_lock_timeout"] <= 90  # type: ignore[operator]


def test_every_setting_has_its_reason_written_next_to_it() -> None:
    import inspect

    import newsworker.worker.app

    source = inspect.getsource(newsworker.worker.app.celery_config)
    for key in (
        "task_acks_late",
        "task_reject_on_worker_lost",
        "worker_prefetch_multiplier",
        "task_soft_time_limit",
        "worker_max_memory_per_child",
        "task_serializer",
        "broker_connection_retry_on_startup",
        "worker_cancel_long_running_tasks_on_connection_loss",
    ):
        line_no = next(i for i, line in enumerate(source.splitlines()) if f'"{key}"' in line)
        previous = source.splitlines()[line_no - 1].strip()
        assert previous.startswith("#"), f"{key} has no reason above it"


def test_every_task_is_routed_to_a_known_queue() -> None:
    app = create_app(load_settings(broker_url="redis://127.0.0.1:6379/13"))
    app.loader.import_default_modules()
    ours = [name for name in app.tasks if name.startswith("newsworker.")]
    assert ours
    routes = app.conf.task_routes
    for name in ours:
        assert routes[name]["queue"] in {DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE}, name
