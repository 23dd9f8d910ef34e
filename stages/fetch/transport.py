"""The guarded connection layer: a pooled httpx client whose every connect passes the SSRF guard.

`GuardedBackend` resolves the host itself, refuses non-public addresses (unless allowed) and
connects to the very address it checked, so a DNS answer cannot change between the check and
the connection. Every connect is bounded by the fetch's total deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from newsworker.stages.fetch import address
from newsworker.stages.fetch.deadline import DeadlineStream, remaining
from newsworker.stages.fetch.decode import ACCEPT_ENCODING
from newsworker.stages.fetch.policy import FetchPolicy

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"
)


class GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks and connects to the checked address; bounds connects by the deadline."""

    def __init__(
        self, *, allow_private_addresses: bool, address_allowed: Callable[[str], bool]
    ) -> None:
        self._allow_private = allow_private_addresses
        self._address_allowed = address_allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = remaining(timeout)
        if self._allow_private:
            stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
            return DeadlineStream(stream)
        addresses = address.resolve_allowed_addresses(host, port, self._address_allowed, timeout)
        last_error: Exception | None = None
        for checked in addresses:
            try:
                stream = super().connect_tcp(
                    checked, port, remaining(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as e:
                last_error = e
                continue
            return DeadlineStream(stream)
        raise httpcore.ConnectError(f"could not connect to {host}: {last_error}")


class PooledClient:
    """One pooled client that connects through the guard and sends each request exactly once."""

    def __init__(self, policy: FetchPolicy, address_allowed: Callable[[str], bool] | None) -> None:
        self._transport = _guarded_transport(policy, address_allowed)
        self._client = httpx.Client(
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                pool=policy.connect_timeout,
            ),
            headers={
                "User-Agent": policy.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )

    def send(self, method: str, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send one request and return the streamed response; redirects are the caller's."""
        request = self._client.build_request(method, url, headers=headers)
        # Straight to the transport: httpx.Client.send parses a redirect's Location even when it
        # does not follow it, and raises on a bad one before the fetcher can name the feed.
        response = self._transport.handle_request(request)
        response.request = request
        return response

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


def _guarded_transport(
    policy: FetchPolicy, address_allowed: Callable[[str], bool] | None
) -> httpx.HTTPTransport:
    backend = GuardedBackend(
        allow_private_addresses=policy.allow_private_addresses and address_allowed is None,
        # Looked up at call time, so a harness can swap the network model for a whole process
        # (tests/hostile/guarded_worker.py).
        address_allowed=address_allowed or address.is_public_address,
    )
    transport = httpx.HTTPTransport(retries=0, trust_env=False)
    # Swap in a pool that uses the guarded backend; same settings as httpx's default pool.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=100,
        max_keepalive_connections=50,
        keepalive_expiry=30.0,
        network_backend=backend,
    )
    return transport
