"""The fleet's health report: every probe of `health_checks` run into one pass/fail answer.

A probe that cannot run reports a failed Check instead of raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from newsworker.config.defaults import DEFAULT_STREAM_NAME
from newsworker.worker.health_checks import (
    Check,
    HealthPolicy,
    broker_checks,
    database_checks,
    feed_checks,
    health_engine,
    outbox_checks,
    ping_check,
    stream_checks,
)

log = logging.getLogger("newsworker.health")


@dataclass(frozen=True)
class HealthTargets:
    """What to probe: the database, and the broker and stream Redis when configured."""

    database_url: str
    broker_url: str | None = None
    redis_url: str | None = None
    stream_name: str = DEFAULT_STREAM_NAME


@dataclass
class HealthReport:
    """All checks; ok when every one passed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape: {"ok": bool, "checks": [{"name", "ok", "detail", "value"}]}."""
        return {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}


def _probe(name: str, run: Callable[[], list[Check]]) -> list[Check]:
    """Run a probe; any failure becomes one failed check naming the probe."""
    try:
        return run()
    except Exception as e:  # a health check reports failures, it never raises them
        log.debug("health probe failed", extra={"check": name, "error": str(e)})
        return [Check(name, False, f"{type(e).__name__}: {e}"[:300])]


def run_health_checks(
    targets: HealthTargets,
    policy: HealthPolicy | None = None,
    *,
    now: datetime | None = None,
    liveness_only: bool = False,
) -> HealthReport:
    """Run every check (or only reachability with liveness_only) and return the report."""
    policy = policy or HealthPolicy()
    now = now or datetime.now(UTC)
    report = HealthReport()
    engine = health_engine(targets.database_url, policy.connect_timeout_seconds)
    try:
        db_checks = _probe("database", lambda: database_checks(engine))
        report.checks.extend(db_checks)
        db_ok = all(check.ok for check in db_checks if check.name == "database")
        if liveness_only:
            report.checks.extend(
                _probe("broker", lambda: ping_check("broker", targets.broker_url, policy))
            )
            report.checks.extend(
                _probe("redis", lambda: ping_check("redis", targets.redis_url, policy))
            )
            return report
        report.checks.extend(_probe("broker", lambda: broker_checks(targets.broker_url, policy)))
        report.checks.extend(
            _probe("redis", lambda: stream_checks(targets.redis_url, targets.stream_name, policy))
        )
        migrated = all(check.ok for check in db_checks)
        if db_ok and migrated:
            with Session(engine) as session:
                report.checks.extend(_probe("outbox", lambda: outbox_checks(session, policy, now)))
                report.checks.extend(_probe("feeds", lambda: feed_checks(session, policy, now)))
    finally:
        engine.dispose()
    return report
