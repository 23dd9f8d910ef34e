"""Resolve, vet and canonicalize article URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

SAFE_SCHEMES = frozenset({"http", "https"})
# Schemes an entry URL may never carry: they run script or read local or in-browser data.
UNSAFE_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob", "about"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Browsers delete tabs and newlines anywhere in a URL ("java\tscript:" runs as script).
_URL_DELETED = re.compile(r"[\t\n\r]+")
_URL_EDGE_NOISE = "".join(chr(c) for c in range(0x21)) + "\x7f"


def resolve_url(raw: str | None, *bases: str | None) -> str | None:
    """Return raw resolved against the first usable base, or None when it is not http(s)."""
    if raw is None:
        return None
    candidate = _URL_DELETED.sub("", raw).strip(_URL_EDGE_NOISE + "\x7f")
    if not candidate:
        return None
    if " " in candidate:
        candidate = candidate.replace(" ", "%20")
    for base in bases:
        if base and _is_safe(base):
            candidate = urljoin(base, candidate)
            break
    return candidate if _is_safe(candidate) else None


def entry_url(link: str | None, guid: str | None, *bases: str | None) -> str | None:
    """The entry's URL without credentials: the link, else its id when that is a web URL.

    A link in a scheme other than http(s) (at://, gemini://) is kept unless it is unsafe.
    """
    url = resolve_url(link, *bases) or _other_scheme_url(link)
    if url is None and guid and _is_safe(guid.strip()):
        url = resolve_url(guid)
    return without_userinfo(url) if url else None


def _other_scheme_url(raw: str | None) -> str | None:
    """raw when it is an absolute URL in a known-harmless scheme other than http(s)."""
    if raw is None:
        return None
    candidate = _URL_DELETED.sub("", raw).strip(_URL_EDGE_NOISE)
    scheme = _SCHEME.match(candidate)
    if scheme is None or scheme.group(1).lower() in UNSAFE_SCHEMES | SAFE_SCHEMES:
        return None
    if " " in candidate or len(candidate) == scheme.end():
        return None
    return candidate


def without_userinfo(url: str) -> str:
    """url with any user:password@ removed from its authority."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _is_safe(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.hostname)


@lru_cache(maxsize=64)
def _tracking_matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [re.escape(p.lower()).replace(r"\*", ".*") for p in patterns]
    return re.compile("(?:" + "|".join(alternatives or ["(?!)"]) + r")\Z")


def strip_tracking_params(query: str, patterns: Iterable[str]) -> str:
    """Drop query parameters whose name matches a tracking pattern; keep the rest in order."""
    if not query:
        return query
    matcher = _tracking_matcher(tuple(patterns))
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = pair.split("=", 1)[0]
        if matcher.match(name.lower()):
            continue
        kept.append(pair)
    return "&".join(kept)


def canonical_url(url: str | None, tracking_params: Iterable[str]) -> str | None:
    """Return the canonical form: lowercase scheme/host, no default port, fragment or trackers."""
    if url is None or not _is_safe(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # Credentials (user:pass@) are left out: noise at best, a phishing trick at worst.
    path = parts.path or "/"
    query = strip_tracking_params(parts.query, tracking_params)
    return urlunsplit(SplitResult(scheme, netloc, path, query, ""))
