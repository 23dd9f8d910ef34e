"""Which URLs the fetcher requests: http(s) only, well-formed, with a host and port it can use.

Every feed URL and every redirect target passes here before a request is built, so a malformed
URL (stored by an older version, or sent by a hostile server as a Location) becomes a BadURL or
BlockedURL naming the feed, never an httpx, idna or ValueError escaping the fetcher.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx

from newsworker.stages.errors import BadURL, BlockedURL

HTTP_SCHEMES = ("http", "https")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_LABEL = 63
_MAX_HOST = 253
# A hostile Location can be 64 KB long; messages (stored as feed errors) show its start.
_SHOWN_CHARS = 200


def check_request_url(candidate: str, url: str, *, what: str = "URL") -> None:
    """Raise BlockedURL unless candidate is http(s), BadURL unless it can be requested.

    url is the feed the error is about; what names candidate in the message ("Location").
    """
    label = f"{what} {_shown(candidate)}"
    if _CONTROL.search(candidate):
        raise BadURL(f"{label} holds a control character", url=url)
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as e:
        raise BadURL(f"{label} is malformed: {e}", url=url) from e
    scheme = parts.scheme.lower()
    if scheme not in HTTP_SCHEMES:
        raise BlockedURL(f"{label}: scheme {scheme or '(none)'}:// is not allowed", url=url)
    if any(c.isspace() for c in parts.netloc):
        raise BadURL(f"{label} has a space in its host", url=url)
    if not parts.hostname:
        raise BadURL(f"{label} has no host", url=url)
    if port == 0:
        raise BadURL(f"{label} has port 0", url=url)
    try:
        parsed = httpx.URL(candidate)
        # .host decodes an xn-- label: a bad one raises here rather than at connect.
        host = parsed.raw_host.decode("ascii") if parsed.host else ""
    except (httpx.InvalidURL, UnicodeError) as e:
        raise BadURL(f"{label} is not a valid URL: {e}", url=url) from e
    if ":" not in host and not _valid_hostname(host):
        raise BadURL(f"{label} has an invalid host name {host!r}", url=url)


def redirect_target(current: str, location: str, url: str) -> str:
    """The absolute URL a Location header leads to from current, checked by check_request_url."""
    location = location.strip()
    if not location:
        raise BadURL(f"redirect from {current} with an empty Location", url=url)
    try:
        target = urljoin(current, location)
    except ValueError as e:
        raise BadURL(f"redirect Location {_shown(location)} is malformed: {e}", url=url) from e
    check_request_url(target, url, what="redirect Location")
    return target


def _shown(text: str) -> str:
    """text quoted for a message: repr, so control characters show, and cut to a bounded size."""
    if len(text) > _SHOWN_CHARS:
        return f"{text[:_SHOWN_CHARS]!r}... ({len(text)} characters)"
    return repr(text)


def _valid_hostname(host: str) -> bool:
    """DNS limits: labels of 1 to 63 characters, 253 in all (a trailing dot is allowed)."""
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > _MAX_HOST:
        return False
    return all(0 < len(part) <= _MAX_LABEL for part in name.split("."))


def scheme_of(url: str) -> str:
    """url's scheme in lower case; "" when url does not even split (check_request_url says why)."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def host_of(url: str) -> str:
    """url's host name; "" when url has none or does not even split (the fetch says why)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
