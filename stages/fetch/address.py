"""The SSRF guard's rules: which addresses are public, and resolving a host to allowed ones."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Callable

import httpcore

from newsworker.stages.errors import BlockedURL

# getaddrinfo has no timeout of its own; it runs here so a hung resolver cannot hang the worker.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


def is_public_address(address: str) -> bool:
    """True when an IP address is globally routable (not private, loopback, link-local...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            ip = mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def resolve_allowed_addresses(
    host: str, port: int, address_allowed: Callable[[str], bool], timeout: float | None = None
) -> list[str]:
    """Resolve host within timeout; raise BlockedURL if any of its addresses is not allowed."""
    lookup = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=timeout)
    except concurrent.futures.TimeoutError as e:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from e
    except (socket.gaierror, UnicodeError) as e:
        raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from e
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    blocked = [a for a in addresses if not address_allowed(a)]
    if blocked or not addresses:
        raise BlockedURL(f"host {host} resolves to a non-public address {', '.join(blocked)}")
    return addresses
