"""Coordination settings: host request budgets, the outage window and the canary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_LOCK_LEASE_SECONDS = 30.0


def lock_lease_within(redelivery_seconds: float) -> float:
    """A lock lease that lapses well before a dead worker's tasks are redelivered.

    The redelivered copy of a crashed poll must find the feed free, not locked by the dead poll.
    """
    return min(DEFAULT_LOCK_LEASE_SECONDS, redelivery_seconds / 3)


@dataclass(frozen=True, slots=True)
class CoordinationPolicy:
    """Host budget and outage window settings (tasks/runtime.py fills it in)."""

    host_requests_per_second: float = 1.0
    # Per-host overrides; a key also covers its subdomains ("example.com" covers "a.example.com").
    host_overrides: Mapping[str, float] = field(default_factory=dict)
    outage_window_seconds: float = 300.0
    outage_window_size: int = 500
    outage_min_polls: int = 20
    outage_failure_ratio: float = 0.9
    # One canary probe per window fleet-wide; its answer is reused until the next probe.
    canary_window_seconds: float = 30.0
    canary_timeout_seconds: float = 5.0
    # A poll's feed lock lives this long unless the poll's process renews it (every third of it,
    # from a thread): a crashed poll frees its feed within one lease, whatever its time limit.
    # Below the broker's visibility timeout, so a crashed poll's redelivered copy finds it free.
    lock_lease_seconds: float = DEFAULT_LOCK_LEASE_SECONDS

    def host_rate(self, host: str) -> float:
        """Requests per second allowed for host (the most specific override, else the default)."""
        host = host.lower().rstrip(".")
        labels = host.split(".")
        for i in range(len(labels)):
            rate = self.host_overrides.get(".".join(labels[i:]))
            if rate is not None:
                return rate
        return self.host_requests_per_second
