"""The fetcher's settings: timeouts, size and redirect caps, and the safety switches."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_USER_AGENT = "newsworker/0.1 (+https://github.com/newsworker/newsworker)"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Timeouts, caps and safety switches of the fetcher (tasks/runtime.py fills it in)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allow_private_addresses: bool = False
    allow_file_urls: bool = False
    user_agent: str = DEFAULT_USER_AGENT
