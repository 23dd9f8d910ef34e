"""Celery signal handlers: process set-up for workers and beat.

- setup_logging: our JSON/console logging with the task context filter (Celery keeps its hands off);
- worker_init (main process, before prefork forks): clear stale metric files, build the entity
  matcher and load the language model so the children share them, then close the parent's DB
  connections;
- worker_process_init (each child): drop inherited DB connections and Redis sockets;
- worker_ready: serve /metrics from the main process when NEWSWORKER_METRICS_PORT is set;
- task_prerun/postrun: task_id, task_name and feed_id on every log line of the task;
- worker_process_shutdown: mark the child dead for the multiprocess metrics;
- worker_shutting_down: say so in the logs.

Importing this module imports prometheus_client (through the metrics server and the task
modules): `worker/app.py` arranges the multiprocess metrics folder before importing it.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

import redis
from celery import signals

from newsworker.config.settings import get_settings
from newsworker.stages.normalize.language import load_language_model
from newsworker.storage.db import dispose_engines, get_engine
from newsworker.tasks.runtime import get_runtime
from newsworker.worker.log_context import (
    bind_log_context,
    install_log_context_filter,
    reset_log_context,
)
from newsworker.worker.logs import configure_logging
from newsworker.worker.metrics_env import clear_multiprocess_dir
from newsworker.worker.metrics_server import mark_child_dead, start_metrics_server

log = logging.getLogger("newsworker.worker")

_metrics_server: Any = None
_task_tokens: dict[str, Any] = {}


def configure_worker_logging(**_: Any) -> None:
    """Structured logs in workers and beat (connecting here stops Celery's own set-up)."""
    configure_logging(get_settings())
    install_log_context_filter()


def prepare_worker_parent(**_: Any) -> None:
    """In the main process, before forking: metric files, the shared matcher, no open DB sockets."""
    install_log_context_filter()
    removed = clear_multiprocess_dir()
    if removed:
        log.info("cleared stale metric files", extra={"files": removed})
    prebuild_matcher()
    # Every child would otherwise load it on its first poll: seconds per respawned child.
    load_language_model()


def prebuild_matcher() -> bool:
    """Build the entity matcher now so forked children share it; False if the store is not ready."""
    runtime = get_runtime()
    try:
        with runtime.session() as session:
            runtime.matchers.get(session)
    except Exception as e:  # children build lazily instead; the worker must still start
        log.warning(
            "matcher prebuild failed; children will build it", extra={"error": str(e)[:300]}
        )
        return False
    finally:
        # The parent does no DB work after this: close its connections before the fork.
        get_engine(runtime.settings.database_url).dispose()
    # Move the matcher's objects out of the collector's reach, so the children's garbage
    # collections do not write to (and copy) the pages they share with the parent.
    gc.freeze()
    return True


def reset_child_connections(**_: Any) -> None:
    """In a forked child: never reuse the parent's DB connections or Redis sockets."""
    dispose_inherited_engines()
    reset_redis_clients()


def dispose_inherited_engines() -> None:
    """Forget pooled DB connections inherited from the parent without closing its sockets."""
    # dispose(close=False) drops the pool's connections without sending a terminate on a socket
    # the parent may still own; the engines then open fresh connections in this process.
    dispose_engines()


def reset_redis_clients() -> None:
    """Reset the connection pools of the runtime's Redis clients (coordinator, stream sink)."""
    runtime = get_runtime()
    holders: list[Any] = [runtime.context.coordinator, *runtime.sinks]
    for holder in holders:
        for value in list(vars(holder).values()) if hasattr(holder, "__dict__") else []:
            if isinstance(value, redis.Redis):
                value.connection_pool.reset()


def serve_worker_metrics(**_: Any) -> None:
    """Expose the multiprocess metrics registry from the main process (NEWSWORKER_METRICS_PORT)."""
    global _metrics_server  # one server per worker process
    settings = get_settings()
    if settings.metrics_port is None or _metrics_server is not None:
        return
    try:
        _metrics_server, _thread = start_metrics_server(
            settings.metrics_port, database_url=settings.database_url
        )
    except OSError as e:
        log.error(
            "metrics port unavailable", extra={"port": settings.metrics_port, "error": str(e)}
        )


def bind_task_context(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    """Put task_id, task_name and feed_id (poll_feed) in the log context of this task."""
    feed_id = (kwargs or {}).get("feed_id")
    name = getattr(task, "name", None)
    if feed_id is None and name == "newsworker.poll_feed" and args:
        feed_id = args[0]
    if task_id is not None:
        _task_tokens[task_id] = bind_log_context(task_id=task_id, task_name=name, feed_id=feed_id)


def clear_task_context(task_id: str | None = None, **_: Any) -> None:
    """Drop the task's log context."""
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    try:
        reset_log_context(token)
    except ValueError:  # token from another context (thread pools): just clear
        reset_log_context(None)


def mark_child_exit(pid: int | None = None, **_: Any) -> None:
    """A pool child is exiting: its live gauges must stop counting."""
    mark_child_dead(pid or os.getpid())


def log_shutdown(sig: Any = None, how: Any = None, exitcode: Any = None, **_: Any) -> None:
    """Log the start of a shutdown: warm finishes the tasks in hand, cold requeues them."""
    log.warning(
        "worker shutting down",
        extra={"signal": str(sig), "how": str(how), "exitcode": exitcode, "pid": os.getpid()},
    )


signals.setup_logging.connect(configure_worker_logging, weak=False)
signals.worker_init.connect(prepare_worker_parent, weak=False)
signals.worker_process_init.connect(reset_child_connections, weak=False)
signals.worker_ready.connect(serve_worker_metrics, weak=False)
signals.task_prerun.connect(bind_task_context, weak=False)
signals.task_postrun.connect(clear_task_context, weak=False)
signals.worker_process_shutdown.connect(mark_child_exit, weak=False)
signals.worker_shutting_down.connect(log_shutdown, weak=False)
