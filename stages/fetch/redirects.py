"""Redirects: the allowed schemes, the hop and loop budget, and each new host's request budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from newsworker.stages.errors import RateLimited, TooManyRedirects
from newsworker.stages.fetch.urls import check_request_url, redirect_target

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_STATUSES = frozenset({301, 308})


class RedirectChain:
    """The hops of one fetch: where to ask next, the loop and hop limits, and permanence."""

    __slots__ = (
        "_all_permanent",
        "_before_request",
        "_hosts",
        "_max",
        "_seen",
        "current",
        "hops",
        "url",
    )

    def __init__(
        self, url: str, max_redirects: int, before_request: Callable[[str], None] | None
    ) -> None:
        """Raises BlockedURL or BadURL when url itself cannot be requested."""
        check_request_url(url, url, what="feed URL")
        self.url = url
        self.current = url
        self.hops = 0
        self._max = max_redirects
        self._before_request = before_request
        self._seen = {url}
        # The caller budgets the feed's own host; only hosts met on the way are budgeted here.
        self._hosts = {urlsplit(url).hostname}
        self._all_permanent = True

    def next_request(self) -> str:
        """The URL to request now (checked when it was set), after its host's budget."""
        current = self.current
        host = urlsplit(current).hostname
        if host not in self._hosts:
            self._hosts.add(host)
            if self._before_request is not None and host:
                self._before_request(host)
        return current

    def follow(self, status: int, location: str) -> None:
        """Move to a redirect's target; TooManyRedirects on a loop or past the hop limit.

        A Location that is not a valid http(s) URL raises BadURL or BlockedURL naming it.
        """
        target = redirect_target(self.current, location, self.url)
        self.hops += 1
        if target in self._seen:
            raise TooManyRedirects(f"redirect loop at {target}", url=self.url)
        if self.hops > self._max:
            raise TooManyRedirects(f"more than {self._max} redirects", url=self.url)
        self._seen.add(target)
        self._all_permanent = self._all_permanent and status in PERMANENT_REDIRECT_STATUSES
        self.current = target

    @property
    def permanent_url(self) -> str | None:
        """The final URL when every hop was permanent (301/308), else None."""
        return self.current if self.hops and self._all_permanent else None


def host_budget_hook(
    reserve_host_slot: Callable[..., float], *, max_wait_seconds: float
) -> Callable[[str], None]:
    """A before_request hook that takes a slot of the host's shared budget for each redirect hop.

    reserve_host_slot is Coordinator.reserve_host_slot. A wait up to max_wait_seconds is slept;
    a longer one raises RateLimited, so the feed is retried later and no error is counted.
    """

    def before_request(host: str) -> None:
        wait = reserve_host_slot(host, max_wait_seconds=max_wait_seconds)
        if wait > max_wait_seconds:
            raise RateLimited(
                f"host budget of redirect target {host} exhausted for {wait:.1f} s",
                retry_after_seconds=wait,
            )
        if wait > 0:
            time.sleep(wait)

    return before_request
