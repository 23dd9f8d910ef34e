"""What a poll runs with and what it returns: PipelineContext, its I/O protocols, PollOutcome.

Every dependency with I/O (sessions, fetcher, coordinator, matcher) comes in through
PipelineContext, so the same code runs in eager mode, in a Celery worker and in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session

from newsworker.stages.enrich import EnrichPolicy, EntityMatcher
from newsworker.stages.normalize import NormalizePolicy
from newsworker.stages.records import FetchResult
from newsworker.stages.schedule import SchedulePolicy
from newsworker.storage.coordination import PollSlot
from newsworker.storage.models import utcnow
from newsworker.tasks.pipeline.caches import RecentSignatures, SnapshotCache


class FeedFetcher(Protocol):
    """What the pipeline needs from newsworker.stages.fetch.Fetcher."""

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        previous_body_hash: str | None = None,
    ) -> FetchResult: ...


class PollCoordinator(Protocol):
    """What the pipeline needs from newsworker.storage.coordination.Coordinator."""

    def begin_poll(
        self, feed_id: int, *, lock_seconds: float, host: str, max_wait_seconds: float
    ) -> PollSlot: ...

    def end_poll(self, feed_id: int, token: str, *, outcome: bool | None) -> None: ...

    def record_poll_outcome(self, ok: bool) -> None: ...

    def probable_outage(self) -> bool: ...

    def first_in_window(self, name: str, window_seconds: float) -> bool: ...


@dataclass(frozen=True)
class PipelineContext:
    """Everything a poll needs, built once per process."""

    session_factory: Callable[[], Session]
    fetcher: FeedFetcher
    coordinator: PollCoordinator
    matcher: Callable[[Session], EntityMatcher]
    sink_names: tuple[str, ...]
    normalize_policy: NormalizePolicy = field(default_factory=NormalizePolicy)
    schedule_policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    enrich_policy: EnrichPolicy = field(default_factory=EnrichPolicy)
    redirect_confirmations: int = 3
    feed_lock_seconds: int = 300
    dedupe_across_feeds: bool = True
    near_duplicate_threshold: float = 0.5
    near_duplicate_window: timedelta = timedelta(days=2)
    # Entries taken from one poll, in feed order: a feed of 50,000 entries would hold a worker
    # past its time limit on every poll (and retry forever); the rest waits for later polls.
    max_entries_per_poll: int = 1000
    # Waiting this long for a host slot is fine inside a task; longer defers the feed.
    max_host_wait_seconds: float = 2.0
    now: Callable[[], datetime] = utcnow
    recent_signatures: RecentSignatures = field(default_factory=RecentSignatures)
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)


@dataclass
class PollOutcome:
    """What one poll did; logged, counted and returned by the task."""

    feed_id: int
    status: str = "ok"  # ok, not_modified, skipped, locked, throttled, error
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)  # reason code -> entries
    entities: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for task results and logs."""
        return {k: dict(v) if isinstance(v, dict) else v for k, v in self.__dict__.items()}
