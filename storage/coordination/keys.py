"""Every Redis key the coordination layer reads or writes, built in one place."""

from __future__ import annotations

from dataclasses import dataclass

KEY_PREFIX = "newsworker"


@dataclass(frozen=True, slots=True)
class CoordinationKeys:
    """The key names under one prefix (tests give each run its own prefix)."""

    prefix: str = KEY_PREFIX

    def feed_lock(self, feed_id: int) -> str:
        """The per-feed poll lock (value: the holder's token)."""
        return f"{self.prefix}:feed-lock:{feed_id}"

    def host_budget(self, host: str) -> str:
        """A host's GCRA budget (value: its theoretical arrival time, Redis ms)."""
        return f"{self.prefix}:host-budget:{host}"

    def once(self, name: str) -> str:
        """The marker of the first caller in a window of name."""
        return f"{self.prefix}:once:{name}"

    @property
    def poll_outcomes(self) -> str:
        """The fleet-wide list of recent poll outcomes ("<unix time>:<0|1>", newest first)."""
        return f"{self.prefix}:poll-outcomes"

    @property
    def canary(self) -> str:
        """The last outage-canary answer (up, down or unknown)."""
        return f"{self.prefix}:canary"
