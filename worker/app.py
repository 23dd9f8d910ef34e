"""The Celery app (`celery -A newsworker.worker.app`), its configuration and beat schedule."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from newsworker.config.settings import Settings, get_settings
from newsworker.worker.metrics_env import prepare_multiprocess_env
from newsworker.worker.queues import DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE, QUEUES
from newsworker.worker.reservations import RESTORE_SWEEP_SECONDS, RenewReservations

# Below this the renewals (every sixth of the timeout) would be a broker round trip a second.
MIN_VISIBILITY_TIMEOUT_SECONDS = 10


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings, each with the reason it is set."""
    if settings.visibility_timeout_seconds < MIN_VISIBILITY_TIMEOUT_SECONDS:
        raise ValueError(
            f"NEWSWORKER_VISIBILITY_TIMEOUT_SECONDS must be at least "
            f"{MIN_VISIBILITY_TIMEOUT_SECONDS}: each worker renews its unacked messages every "
            "sixth of it, so only a dead worker's messages come back"
        )
    eager = settings.eager
    return {
        # Unset broker: embedded mode, every .delay() runs here and now.
        "broker_url": settings.broker_url or "memory://",
        "task_always_eager": eager,
        "task_eager_propagates": True,
        # Results are never read: tasks report through the store, logs and metrics.
        "task_ignore_result": True,
        "result_backend": None,
        # JSON only: tasks pass ids, and pickle from a shared broker is code execution.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Polls and publishes are idempotent: ack after the work, so a crash redelivers the task.
        "task_acks_late": True,
        # ...and a child killed mid-task (OOM, SIGKILL) puts its task back instead of dropping it.
        "task_reject_on_worker_lost": True,
        # One task at a time per process: polls are long and uneven, prefetching starves others.
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit_seconds,
        "task_time_limit": settings.task_time_limit_seconds,
        "broker_transport_options": {
            # Short, so a dead worker's reserved and running tasks come back within about a
            # minute and a half. A live worker renews its own unacked messages (reservations.py),
            # so a poll running longer, or an ETA task held longer, is not redelivered.
            "visibility_timeout": settings.visibility_timeout_seconds,
            # Every worker sweeps for expired reservations this often (kombu's default throttle
            # of 10 would make it one sweep per 100 s, longer than the timeout itself).
            "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
            "unacked_restore_throttle": 1,
            # A worker killed inside a sweep holds the sweep's mutex until it expires: keep short.
            "unacked_mutex_expire": 30,
            # Retry the broker forever with a cap, instead of failing tasks on a blip.
            "max_retries": None,
            "socket_keepalive": True,
            "health_check_interval": 25,
        },
        # Recycle a child that grew past this (a leak or a huge feed), after its current task.
        "worker_max_memory_per_child": settings.worker_max_memory_per_child_kb,
        # The default is None in code whatever the docs say: be explicit, keep retrying at startup.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        # A connection loss cannot ack late tasks; cancel them so they are redelivered, not lost.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Separate queues so ops scale dispatch, polling and publishing independently.
        # Each queue has its own exchange and key; bare Queue(name) objects would all bind to the
        # default exchange and key, and one message would be copied into every queue.
        "task_queues": [
            Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
            for name in QUEUES
        ],
        "task_default_exchange": POLL_QUEUE,
        "task_default_routing_key": POLL_QUEUE,
        "task_default_queue": POLL_QUEUE,
        "task_routes": {
            "newsworker.dispatch_due_feeds": {"queue": DISPATCH_QUEUE},
            "newsworker.poll_feed": {"queue": POLL_QUEUE},
            "newsworker.publish_pending": {"queue": PUBLISH_QUEUE},
            "newsworker.refresh_profile_stories": {"queue": PUBLISH_QUEUE},
        },
        # Task events (Flower, celery-exporter) cost a Redis PUBLISH per task state: opt-in.
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        # One active beat: RedBeat holds a Redis lock; a standby takes over when it expires.
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url or settings.broker_url,
        "redbeat_lock_timeout": settings.beat_lock_timeout_seconds,
        "beat_max_loop_interval": 5,
        "beat_schedule": {
            "dispatch-due-feeds": {
                "task": "newsworker.dispatch_due_feeds",
                "schedule": settings.dispatch_interval_seconds,
            },
            "publish-pending": {"task": "newsworker.publish_pending", "schedule": 5.0},
            # Cheap when nothing changed: one query for stories carrying an older profile version.
            "refresh-profile-stories": {
                "task": "newsworker.refresh_profile_stories",
                "schedule": 60.0,
            },
        },
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
    }


def create_app(settings: Settings | None = None) -> Celery:
    """Build the Celery app for these settings."""
    app = Celery("newsworker", include=["newsworker.tasks.celery_tasks"])
    app.conf.update(celery_config(settings or get_settings()))
    app.steps["consumer"].add(RenewReservations)
    return app


app = create_app()

# Before the signal handlers (and through them the task modules) import prometheus_client, which
# picks its value storage from the environment at import time.
prepare_multiprocess_env(metrics_port=get_settings().metrics_port)

import newsworker.worker.signals  # noqa: E402, F401  (connects process set-up to Celery's signals)
