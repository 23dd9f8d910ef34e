"""Coordination settings: host request budgets, the outage window and the canary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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

    def host_rate(self, host: str) -> float:
        """Requests per second allowed for host (the most specific override, else the default)."""
        host = host.lower().rstrip(".")
        labels = host.split(".")
        for i in range(len(labels)):
            rate = self.host_overrides.get(".".join(labels[i:]))
            if rate is not None:
                return rate
        return self.host_requests_per_second
