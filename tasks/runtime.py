"""Process set-up: one pipeline context per process, with the entity matcher built once.

In a prefork worker the matcher is built in the parent before the children fork, so they share
its memory; a child rebuilds only when the store's profile version changes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from newsworker.config.settings import Settings, get_settings
from newsworker.stages.enrich import EnrichPolicy, EntityMatcher, load_or_build_matcher
from newsworker.stages.enrich.profiles import ProfilePolicy
from newsworker.stages.fetch import Fetcher, FetchPolicy, host_budget_hook
from newsworker.stages.normalize import NormalizePolicy
from newsworker.stages.publish.sinks import JsonlFileSink, RedisStreamSink, Sink, WebhookSink
from newsworker.stages.schedule import SchedulePolicy
from newsworker.storage.coordination import CoordinationPolicy, Coordinator, lock_lease_within
from newsworker.storage.db import get_engine
from newsworker.storage.profile_version import profiles_version
from newsworker.storage.profiles import load_matchable_profiles
from newsworker.tasks import metrics
from newsworker.tasks.pipeline import PipelineContext

log = logging.getLogger("newsworker.runtime")

# A task may wait this long for a host slot (the feed's host or a redirect target's).
MAX_HOST_WAIT_SECONDS = 2.0


@dataclass
class MatcherCache:
    """The process's entity matcher, rebuilt only when the profile set's version changes."""

    policy: EnrichPolicy = field(default_factory=EnrichPolicy)
    # With a folder, a build saved for the same profile version is loaded instead of rebuilt.
    cache_dir: Path | None = None
    matcher: EntityMatcher | None = None
    version: str | None = None
    checked_at: float = 0.0
    check_every_seconds: float = 5.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session: Session) -> EntityMatcher:
        """The current matcher; checks the store's version at most every few seconds."""
        now = time.monotonic()
        if self.matcher is not None and now - self.checked_at < self.check_every_seconds:
            return self.matcher
        with self._lock:
            version = profiles_version(session=session)
            self.checked_at = now
            if self.matcher is None or version != self.version:
                self.build(session)
            assert self.matcher is not None
            return self.matcher

    def build(self, session: Session) -> EntityMatcher:
        """Build (or load a saved build) from the store now."""
        started = time.perf_counter()
        version = profiles_version(session=session)
        self.matcher = load_or_build_matcher(
            version=version,
            profiles=lambda: load_matchable_profiles(session=session),
            cache_dir=self.cache_dir,
            policy=self.policy,
        )
        self.version = version
        elapsed = time.perf_counter() - started
        metrics.MATCHER_BUILD_SECONDS.set(elapsed)
        metrics.MATCHER_ALIASES.set(self.matcher.alias_count)
        log.info(
            "entity matcher ready",
            extra={
                "profiles": self.matcher.profile_count,
                "aliases": self.matcher.alias_count,
                "seconds": round(elapsed, 3),
                "pid": os.getpid(),
            },
        )
        return self.matcher


def build_sinks(settings: Settings) -> list[Sink]:
    """The sinks these settings ask for: JSON Lines file, Redis Stream, webhooks."""
    sinks: list[Sink] = []
    if settings.jsonl_path is not None:
        sinks.append(JsonlFileSink(Path(settings.jsonl_path)))
    if settings.redis_url:
        sinks.append(
            RedisStreamSink(settings.redis_url, settings.stream_name, settings.stream_maxlen)
        )
    sinks.extend(WebhookSink(w.name, w.url, w.secret) for w in settings.webhooks)
    return sinks


def fetch_policy(settings: Settings) -> FetchPolicy:
    """Map settings onto the fetcher's policy."""
    return FetchPolicy(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        total_timeout=settings.total_timeout_seconds,
        max_body_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
        allow_private_addresses=settings.allow_private_addresses,
        allow_file_urls=settings.allow_file_urls,
        user_agent=settings.user_agent,
    )


def outage_canary(settings: Settings, timeout_seconds: float) -> Callable[[], bool] | None:
    """The canary probe (a HEAD through our own guarded fetcher), or None when unset."""
    url = settings.outage_canary_url
    if not url:
        return None
    policy = replace(
        fetch_policy(settings),
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        total_timeout=timeout_seconds,
    )
    fetcher = Fetcher(policy)
    return lambda: fetcher.probe(url)


def schedule_policy(settings: Settings) -> SchedulePolicy:
    """Map settings onto the scheduler's policy."""
    return SchedulePolicy(
        min_interval=settings.min_interval_seconds,
        max_interval=settings.max_interval_seconds,
        default_interval=settings.default_interval_seconds,
        max_backoff=settings.max_backoff_seconds,
        failing_after_errors=settings.failing_after_errors,
    )


def normalize_policy(settings: Settings) -> NormalizePolicy:
    """Map settings onto the normalizer's policy."""
    return NormalizePolicy(
        tracking_params=settings.tracking_params,
        future_date_tolerance=timedelta(seconds=settings.future_date_tolerance_seconds),
        max_title_chars=settings.max_title_chars,
        max_text_chars=settings.max_text_chars,
        max_summary_chars=settings.max_summary_chars,
    )


def enrich_policy(settings: Settings) -> EnrichPolicy:
    """Map settings onto the entity matcher's policy."""
    return EnrichPolicy(min_confidence=settings.entity_min_confidence)


def profile_policy(settings: Settings) -> ProfilePolicy:
    """Map settings onto the profile import policy."""
    return ProfilePolicy(summary_max_chars=settings.profile_summary_max_chars)


@dataclass
class Runtime:
    """Everything one process holds: settings, engine, context, sinks."""

    settings: Settings
    context: PipelineContext
    matchers: MatcherCache
    sinks: list[Sink]

    def session(self) -> Session:
        """A new session on the process's engine."""
        return Session(get_engine(self.settings.database_url), expire_on_commit=False)


def build_runtime(settings: Settings) -> Runtime:
    """Assemble a Runtime from settings."""
    enrich = enrich_policy(settings)
    matchers = MatcherCache(policy=enrich, cache_dir=settings.matcher_cache_dir)
    sinks = build_sinks(settings)

    def session_factory() -> Session:
        return Session(get_engine(settings.database_url), expire_on_commit=False)

    coordination = CoordinationPolicy(
        host_requests_per_second=settings.host_requests_per_second,
        host_overrides=settings.host_requests_per_second_overrides,
        outage_min_polls=settings.outage_min_polls,
        outage_failure_ratio=settings.outage_failure_ratio,
        lock_lease_seconds=lock_lease_within(settings.visibility_timeout_seconds),
    )
    coordinator = Coordinator(
        settings.redis_url or settings.broker_url,
        coordination,
        canary=outage_canary(settings, coordination.canary_timeout_seconds),
    )
    fetcher = Fetcher(
        fetch_policy(settings),
        before_request=host_budget_hook(
            coordinator.reserve_host_slot, max_wait_seconds=MAX_HOST_WAIT_SECONDS
        ),
    )
    context = PipelineContext(
        session_factory=session_factory,
        fetcher=fetcher,
        coordinator=coordinator,
        matcher=matchers.get,
        sink_names=tuple(sink.name for sink in sinks),
        normalize_policy=normalize_policy(settings),
        schedule_policy=schedule_policy(settings),
        enrich_policy=enrich,
        redirect_confirmations=settings.permanent_redirect_confirmations,
        feed_lock_seconds=settings.feed_lock_seconds,
        dedupe_across_feeds=settings.dedupe_across_feeds,
        near_duplicate_threshold=settings.near_duplicate_threshold,
        max_host_wait_seconds=MAX_HOST_WAIT_SECONDS,
    )
    return Runtime(settings=settings, context=context, matchers=matchers, sinks=sinks)


_current: Runtime | None = None


def get_runtime() -> Runtime:
    """The process-wide runtime, built from the environment on first use."""
    global _current  # noqa: PLW0603  (one runtime per process is the point)
    if _current is None:
        _current = build_runtime(get_settings())
    return _current


def set_runtime(runtime: Runtime | None) -> None:
    """Install the process-wide runtime (the CLI and tests build it from their own settings)."""
    global _current  # noqa: PLW0603
    _current = runtime
