"""Prometheus metrics every stage reports (multiprocess-safe with PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter(
    "newsworker_fetches_total", "Feed fetches by outcome", ["outcome"]
)  # outcome: 2xx, 3xx, 4xx, 5xx, not_modified, unchanged, error kinds
FETCH_SECONDS = Histogram(
    "newsworker_fetch_duration_seconds",
    "Feed fetch duration",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ENTRIES = Counter(
    "newsworker_entries_total", "Entries by outcome", ["outcome"]
)  # new, updated, duplicate, unchanged, rejected
ENTRIES_REJECTED = Counter(
    "newsworker_entries_rejected_total", "Rejected entries by reason", ["reason"]
)  # reason codes: tasks/pipeline/rejections.py
PARSE_ERRORS = Counter("newsworker_parse_errors_total", "Feeds whose body could not be parsed")
FEED_ERRORS = Counter("newsworker_feed_errors_total", "Recorded feed errors by kind", ["kind"])
ENTITIES_ATTACHED = Counter("newsworker_entities_attached_total", "Entities attached to stories")
STORIES_WITHOUT_ENTITIES = Counter(
    "newsworker_stories_without_entities_total", "Stories published with no entity"
)
STORY_EVENTS = Counter(
    "newsworker_story_events_total", "Story events written to the outbox", ["event"]
)
PUBLISHED = Counter(
    "newsworker_published_total", "Outbox deliveries by sink and outcome", ["sink", "outcome"]
)
OUTBOX_LAG = Histogram(
    "newsworker_outbox_lag_seconds",
    "Time from outbox write to delivery",
    ["sink"],
    buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
)
HOST_THROTTLED = Counter("newsworker_host_throttled_total", "Polls deferred by the per-host budget")
FEED_LOCK_BUSY = Counter(
    "newsworker_feed_lock_busy_total", "Polls skipped: feed already being polled"
)
# livemax: one series over live processes, so dead prefork children do not linger.
MATCHER_BUILD_SECONDS = Gauge(
    "newsworker_matcher_build_seconds",
    "Last entity matcher build time",
    multiprocess_mode="livemax",
)
MATCHER_ALIASES = Gauge(
    "newsworker_matcher_aliases", "Aliases in the entity matcher", multiprocess_mode="livemax"
)
POLL_SECONDS = Histogram(
    "newsworker_poll_duration_seconds",
    "Whole poll_feed duration",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
