"""Entry identity within a feed, the content hash, and the unstable-GUID check."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

# GUIDs longer than this are stored hashed so the unique key stays a sane size.
MAX_GUID_KEY_CHARS = 256
# The unstable-GUID rule needs this many links seen in both polls before it judges.
MIN_SHARED_LINKS = 2
UNSTABLE_GUID_SHARE = 0.5


def content_hash(title: str, text: str) -> str:
    """Return the sha256 hex of title and text: a change means the entry was updated."""
    return hashlib.sha256(f"{title}\n\x1f\n{text}".encode()).hexdigest()


def entry_key(
    guid: str | None,
    canonical_url: str | None,
    title: str,
    text: str,
    *,
    guid_unstable: bool = False,
) -> str:
    """Return the entry's identity in its feed: guid:, else url:, else hash: of title and text."""
    guid = guid.strip() if guid else None
    if guid and not guid_unstable:
        if len(guid) > MAX_GUID_KEY_CHARS:
            return "guid-sha256:" + hashlib.sha256(guid.encode()).hexdigest()
        return "guid:" + guid
    if canonical_url:
        if len(canonical_url) > 2000:
            return "url-sha256:" + hashlib.sha256(canonical_url.encode()).hexdigest()
        return "url:" + canonical_url
    return "hash:" + content_hash(title, text)


def guids_look_unstable(previous: Mapping[str, str], current: Mapping[str, str]) -> bool:
    """Tell whether a feed rewrites GUIDs each poll: maps are canonical_url -> guid per poll.

    Rule: among links present in both polls, at least MIN_SHARED_LINKS must exist and at
    least half of them must carry a different GUID now. A feed that only adds new entries
    shares links with unchanged GUIDs and never trips it.
    """
    shared = [url for url in current if url in previous]
    if len(shared) < MIN_SHARED_LINKS:
        return False
    changed = sum(1 for url in shared if previous[url] != current[url])
    return changed / len(shared) >= UNSTABLE_GUID_SHARE
