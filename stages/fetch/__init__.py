"""The HTTP edge: fetch one feed URL politely, safely and cheaply, never through feedparser.

One idea per module: `client` (the Fetcher and its request loop), `transport` (the pooled client
and its SSRF-guarded connections), `address` (which addresses are public), `deadline` (the
total timeout every socket call obeys), `redirects` (hop budget, schemes, per-host budget hook),
`body` and `decode` (size caps and decompression), `caching` (conditional GET, refresh hints),
`retry_after`, `status` (error statuses to errors), `urls` (which URLs may be requested) and
`files` (file:// feeds).
"""

from newsworker.stages.fetch.address import is_public_address, resolve_allowed_addresses
from newsworker.stages.fetch.caching import min_refresh_seconds
from newsworker.stages.fetch.client import Fetcher
from newsworker.stages.fetch.policy import DEFAULT_USER_AGENT, FetchPolicy
from newsworker.stages.fetch.redirects import host_budget_hook
from newsworker.stages.fetch.retry_after import parse_retry_after

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchPolicy",
    "Fetcher",
    "host_budget_hook",
    "is_public_address",
    "min_refresh_seconds",
    "parse_retry_after",
    "resolve_allowed_addresses",
]
