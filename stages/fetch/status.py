"""Final HTTP statuses of 300 and above mapped onto the ingest error tree."""

from __future__ import annotations

from collections.abc import Mapping

from newsworker.stages.errors import FeedGone, HTTPStatusError, RateLimited
from newsworker.stages.fetch.retry_after import parse_retry_after

RATE_LIMIT_STATUSES = frozenset({429, 503})


def raise_for_status(status: int, headers: Mapping[str, str], url: str, final_url: str) -> None:
    """Raise FeedGone (410), RateLimited (429/503 with Retry-After) or HTTPStatusError."""
    where = url if final_url == url else f"{url} (redirected to {final_url})"
    if status == 410:
        raise FeedGone(f"410 Gone from {where}", url=url)
    if status in RATE_LIMIT_STATUSES:
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is not None:
            raise RateLimited(
                f"{status} from {where}, retry after {retry_after:.0f} s",
                url=url,
                retry_after_seconds=retry_after,
            )
    raise HTTPStatusError(f"HTTP {status} from {where}", url=url, status=status)
