"""Prometheus exposition: the workers' metrics (all processes in multiprocess mode), store gauges.

Importing this module imports prometheus_client, which picks its value storage from the
environment at that moment: entry points run `metrics_env.prepare_multiprocess_env` first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlmodel import Session

from newsworker.storage.deliveries import oldest_pending_age, pending_count
from newsworker.storage.feeds import feed_counts
from newsworker.worker.health_checks import health_engine
from newsworker.worker.metrics_env import multiprocess_dir

log = logging.getLogger("newsworker.metrics")


def mark_child_dead(pid: int) -> None:
    """Drop a dead child's live gauges (its counters stay summed into the totals)."""
    if multiprocess_dir() is None:
        return
    mark_process_dead(pid)  # type: ignore[no-untyped-call]


class StoreCollector:
    """Gauges read from the store at scrape time (cached a few seconds): outbox and feeds."""

    def __init__(self, database_url: str, *, cache_seconds: float = 5.0) -> None:
        self.database_url = database_url
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        engine = health_engine(self.database_url, 2.0)
        try:
            with Session(engine) as session:
                now = datetime.now(UTC)
                age = oldest_pending_age(session=session, now=now)
                return {
                    "pending": pending_count(session=session),
                    "oldest": age.total_seconds() if age is not None else 0.0,
                    "feeds": feed_counts(session=session, now=now, overdue_after=timedelta(0)),
                }
        finally:
            engine.dispose()

    def values(self) -> dict[str, Any] | None:
        """The store figures, from cache when fresh; None when the store cannot be read."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            try:
                data = self._read()
            except Exception as e:  # a scrape must not fail because the store is down
                log.warning("metrics: store unreadable", extra={"error": str(e)[:200]})
                return None
            self._cached = (now, data)
            return data

    def collect(self) -> Iterator[Any]:
        """Yield the store gauges (nothing when the store is unreadable)."""
        up = GaugeMetricFamily("newsworker_store_up", "1 when the store answered the last scrape")
        data = self.values()
        up.add_metric([], 0.0 if data is None else 1.0)
        yield up
        if data is None:
            return
        yield GaugeMetricFamily(
            "newsworker_outbox_pending", "Deliveries waiting to be published", value=data["pending"]
        )
        yield GaugeMetricFamily(
            "newsworker_outbox_oldest_pending_seconds",
            "Age of the oldest unpublished story event",
            value=data["oldest"],
        )
        feeds = GaugeMetricFamily("newsworker_feeds", "Feeds by status", labels=["status"])
        for status, count in sorted(data["feeds"].items()):
            if status != "overdue":
                feeds.add_metric([status], float(count))
        yield feeds


class _ProcessRegistry:
    """Forwards the process's default registry (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        """Yield every metric of the default registry."""
        yield from REGISTRY.collect()


def build_registry(database_url: str | None = None) -> Any:
    """A registry: the workers' metrics (every process in multiprocess mode) and store gauges."""
    registry = CollectorRegistry(auto_describe=False)
    folder = multiprocess_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessRegistry())
    if database_url:
        registry.register(StoreCollector(database_url))
    return registry


def start_metrics_server(
    port: int,
    *,
    host: str = "0.0.0.0",  # noqa: S104  (a scrape target must be reachable from Prometheus)
    database_url: str | None = None,
) -> tuple[Any, threading.Thread]:
    """Serve /metrics on host:port in a daemon thread; returns (server, thread)."""
    server, thread = start_http_server(port, addr=host, registry=build_registry(database_url))
    log.info("metrics served", extra={"port": port, "multiprocess": multiprocess_dir() is not None})
    return server, thread


def serve_forever(port: int, *, host: str = "0.0.0.0", database_url: str | None = None) -> None:  # noqa: S104
    """Run the standalone `newsworker metrics` server until interrupted."""
    server, thread = start_metrics_server(port, host=host, database_url=database_url)
    try:
        while thread.is_alive():
            thread.join(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
