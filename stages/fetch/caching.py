"""Conditional GET and caching headers: what to send, and how long the server asks us to wait."""

from __future__ import annotations

import re
from collections.abc import Mapping

from newsworker.stages.fetch.retry_after import header_date, parse_retry_after

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since for the validators of the previous fetch."""
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def min_refresh_seconds(headers: Mapping[str, str]) -> float | None:
    """Longest of Cache-Control max-age, Expires (relative to Date) and Retry-After, in seconds."""
    candidates: list[float] = []
    cache_control = headers.get("cache-control")
    if cache_control:
        match = _MAX_AGE.search(cache_control)
        if match:
            candidates.append(float(match.group(1)))
    expires = headers.get("expires")
    if expires:
        seconds = parse_retry_after(expires, now=header_date(headers.get("date")))
        if seconds is not None:
            candidates.append(seconds)
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        candidates.append(retry_after)
    return max(candidates) if candidates else None
