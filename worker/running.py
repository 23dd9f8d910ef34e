"""`newsworker run`: poll, process and publish in this process (eager), once or on schedule."""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from newsworker.stages.enrich import EntityMatcher
from newsworker.storage import feeds as feed_store
from newsworker.storage.models import utcnow
from newsworker.storage.run_lock import hold_store
from newsworker.tasks.leases import DISPATCH_LEASE as LEASE
from newsworker.tasks.pipeline import PollOutcome, poll_feeds, prepare_here, refresh_profile_stories
from newsworker.tasks.publishing import relay_all
from newsworker.tasks.runtime import Runtime
from newsworker.worker.prepare_pool import prepare_processes
from newsworker.worker.progress import progress
from newsworker.worker.round_helpers import PoolOnDemand, RoundHelpers, current_matcher

log = logging.getLogger("newsworker.run")


@dataclass
class RunSummary:
    """Totals of one round: feeds, entries, new stories, entities, time."""

    feeds: int = 0
    entries: int = 0
    new_stories: int = 0
    updated: int = 0
    duplicates: int = 0
    not_modified: int = 0
    errors: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    entities: int = 0
    refreshed: int = 0
    published: int = 0
    seconds: float = 0.0
    outcomes: list[PollOutcome] = field(default_factory=list)

    def add(self, outcome: PollOutcome) -> None:
        """Count one poll."""
        self.feeds += 1
        self.entries += outcome.new + outcome.updated + outcome.duplicate + outcome.unchanged
        self.new_stories += outcome.new
        self.updated += outcome.updated
        self.duplicates += outcome.duplicate
        self.entities += outcome.entities
        self.not_modified += outcome.status == "not_modified"
        self.errors += outcome.status == "error"
        self.rejected += outcome.rejected
        for reason, count in outcome.rejected_reasons.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + count
        self.outcomes.append(outcome)

    def table(self) -> Table:
        """The summary as a two-column rich table (fits an 80-column terminal)."""
        table = Table("", "", title="newsworker run", show_header=False)
        rows = (
            ("feeds polled", self.feeds),
            ("entries seen", self.entries),
            ("new stories", self.new_stories),
            ("updated stories", self.updated),
            ("syndicated duplicates joined", self.duplicates),
            ("unchanged feeds (304 or same body)", self.not_modified),
            ("entities attached", self.entities),
            ("stories refreshed (profiles changed)", self.refreshed),
            ("feed errors", self.errors),
            ("entries rejected", self._rejected_text()),
            ("events published", self.published),
            ("time taken", f"{self.seconds:.2f} s"),
        )
        for label, value in rows:
            table.add_row(label, str(value))
        return table

    def _rejected_text(self) -> str:
        """The rejected count with its reasons, e.g. "655 (empty 650, unusable 5)"."""
        if not self.rejected_by_reason:
            return str(self.rejected)
        reasons = sorted(self.rejected_by_reason.items(), key=lambda item: (-item[1], item[0]))
        return f"{self.rejected} ({', '.join(f'{r} {n}' for r, n in reasons)})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly totals."""
        return {
            k: dict(v) if isinstance(v, dict) else v
            for k, v in self.__dict__.items()
            if k != "outcomes"
        }


def run_once(
    runtime: Runtime,
    *,
    all_feeds: bool = False,
    console: Console | None = None,
    pool: PoolOnDemand | None = None,
) -> RunSummary:
    """Poll every due (or, with all_feeds, every active) feed once, then publish everything.

    With more than one feed (and NEWSWORKER_PREPARE_PROCESSES not 0), feeds are parsed and
    normalized in `pool`'s processes (or in a pool started for this round) while this process
    stores earlier ones, and a publisher process relays stories as their feeds commit. Each
    starts only when the round has work for it: an unchanged round starts neither.
    Raises StoreBusy when another `newsworker run` holds the store.
    """
    with hold_store(runtime.settings.database_url):
        return _round(runtime, all_feeds=all_feeds, console=console, pool=pool)


def _round(
    runtime: Runtime, *, all_feeds: bool, console: Console | None, pool: PoolOnDemand | None
) -> RunSummary:
    started = time.perf_counter()
    summary = RunSummary()
    with runtime.session() as session:
        ids = feed_store.claim_due_feeds(
            session=session, now=utcnow(), limit=10_000_000, lease=LEASE, include_not_due=all_feeds
        )
    with ExitStack() as stack:
        if pool is None and len(ids) > 1:
            pool = open_prepare_pool(runtime)
            if pool is not None:
                stack.callback(pool.close)
        helpers = RoundHelpers(runtime, stack, publish_alongside=pool is not None and len(ids) > 1)
        submit, ahead = (pool.submit, pool.processes + 1) if pool else (prepare_here, 0)
        with progress(
            console or Console(stderr=True), "polling feeds", total=len(ids), unit="feeds"
        ) as report:
            helpers.report = report
            if pool is not None:
                pool.pause = helpers.pause
            for outcome in poll_feeds(runtime.context, ids, submit, ahead=ahead):
                summary.add(outcome)
                helpers.after(outcome)
                report.advance()
            helpers.report = None
        # No beat runs in embedded mode: re-publish stories whose profiles changed here instead.
        window = timedelta(days=runtime.settings.profile_freshness_days)
        summary.refreshed = refresh_profile_stories(runtime.context, window=window)
        summary.published = helpers.finish()
        summary.published += relay_all(runtime)
    summary.seconds = time.perf_counter() - started
    return summary


def run_loop(runtime: Runtime, *, console: Console, max_sleep_seconds: float = 30.0) -> None:
    """Poll feeds as they come due, publish, sleep until the next; stops on SIGINT or SIGTERM.

    Raises StoreBusy when another `newsworker run` holds the store.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # The lock outside the stack: the stack is closed whenever the prepare pool is replaced.
    with hold_store(runtime.settings.database_url), ExitStack() as stack:
        console.print("newsworker run: polling feeds on their schedules (Ctrl-C stops)")
        pool: PoolOnDemand | None = None
        pool_matcher: EntityMatcher | None = None
        while not stop.is_set():
            matcher = current_matcher(runtime)
            if matcher is not pool_matcher:
                # New profiles, new matcher: children forked with the old one would match with
                # it (and the store would match again itself), so they are replaced.
                stack.close()
                pool = open_prepare_pool(runtime, matcher)
                if pool is not None:
                    stack.callback(pool.close)
                pool_matcher = matcher
            summary = _round(runtime, all_feeds=False, console=None, pool=pool)
            if summary.feeds:
                log.info("round done", extra=summary.as_dict())
            stop.wait(_wait_for_next(runtime, max_sleep_seconds))


def open_prepare_pool(
    runtime: Runtime, matcher: EntityMatcher | None = None
) -> PoolOnDemand | None:
    """The prepare processes the settings ask for, forked on first use; None for none.

    The caller closes it. Without `matcher`, they share the one current when they start.
    """
    processes = prepare_processes(runtime.settings.prepare_processes)
    return PoolOnDemand(runtime, processes, matcher) if processes else None


def _wait_for_next(runtime: Runtime, max_sleep_seconds: float) -> float:
    """Seconds until the next feed comes due, between 0.5 and max_sleep_seconds."""
    with runtime.session() as session:
        feeds = feed_store.list_feeds(session=session)
    upcoming = [f.next_poll_at for f in feeds if f.status in ("active", "failing")]
    if not upcoming:
        return max_sleep_seconds
    return min(max_sleep_seconds, max(0.5, (min(upcoming) - utcnow()).total_seconds()))
