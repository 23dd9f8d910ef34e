"""The normalize stage: one RawEntry in, one clean, safe, dated and identified Article out."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from newsworker.config.defaults import DEFAULT_TRACKING_PARAMS
from newsworker.stages.errors import ParseError
from newsworker.stages.normalize.citations import (
    extract_sources,
    link_citation_markers,
    strip_citation_markers,
)
from newsworker.stages.normalize.content import (
    LINK_REL,
    clean_plain_text,
    defuse_text,
    html_to_text,
    sanitize_html,
)
from newsworker.stages.normalize.dates import settle_dates
from newsworker.stages.normalize.identity import content_hash, entry_key, guids_look_unstable
from newsworker.stages.normalize.language import article_language
from newsworker.stages.normalize.near_duplicates import (
    NEAR_DUPLICATE_THRESHOLD,
    NearDuplicateIndex,
    similarity,
    text_signature,
)
from newsworker.stages.normalize.nesting import flatten_deep_html
from newsworker.stages.normalize.text_limits import cap_html, cap_text
from newsworker.stages.normalize.urls import canonical_url, entry_url, resolve_url
from newsworker.stages.records import Article, RawEntry

__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "NearDuplicateIndex",
    "NormalizePolicy",
    "entry_fingerprints",
    "guids_look_unstable",
    "normalize_entry",
    "similarity",
    "text_signature",
]

INFERRED_TITLE_CHARS = 120
# Part of every entry fingerprint: bump it when normalize_entry changes what it derives from an
# entry, so entries seen before are normalized again on their feed's next poll.
FINGERPRINT_VERSION = 3
_RAW_ENTRY_FIELDS = tuple(f.name for f in fields(RawEntry))


@dataclass(frozen=True, slots=True)
class NormalizePolicy:
    """What normalize_entry strips, caps and tolerates; tasks/runtime.py maps settings onto it."""

    tracking_params: tuple[str, ...] = field(default=DEFAULT_TRACKING_PARAMS)
    future_date_tolerance: timedelta = timedelta(days=1)
    max_title_chars: int = 300
    max_text_chars: int = 100_000
    max_summary_chars: int = 1_000

    @property
    def max_html_chars(self) -> int:
        """Entry HTML is cut to this before sanitizing: markup takes room beside the text."""
        return 4 * self.max_text_chars


def entry_fingerprints(
    entries: Sequence[RawEntry],
    *,
    feed_url: str,
    feed_language: str | None,
    guid_unstable: bool,
    policy: NormalizePolicy,
) -> list[str]:
    """A short hash per entry of everything normalize_entry reads, except the discovery time.

    Equal fingerprints mean normalize_entry returns the same key and content hash, so an entry
    whose fingerprint was stored at the feed's last poll needs no normalizing: it is unchanged.
    """
    seed = repr((FINGERPRINT_VERSION, feed_url, feed_language, guid_unstable, policy))
    seeded = hashlib.sha1(_framed(seed.encode("utf-8", "surrogatepass")), usedforsecurity=False)
    fingerprints: list[str] = []
    for entry in entries:
        # Each field framed by its kind and length, so None, "" and values holding any byte
        # stay distinct. Strings go in as they are (repr-ing a 3 KB body cost more than hashing
        # it); datetimes and citation tuples by their repr, which is stable across processes.
        parts: list[bytes] = []
        for name in _RAW_ENTRY_FIELDS:
            value = getattr(entry, name)
            if value is None:
                parts.append(b"n")
            elif isinstance(value, str):
                parts.append(b"s" + _framed(value.encode("utf-8", "surrogatepass")))
            else:
                parts.append(b"r" + _framed(repr(value).encode("utf-8", "surrogatepass")))
        digest = seeded.copy()
        digest.update(b"".join(parts))
        fingerprints.append(digest.hexdigest()[:16])
    return fingerprints


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(8, "little") + data


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", 1)[0]


def _bounded_html(fragment: str, policy: NormalizePolicy) -> tuple[str, bool, bool]:
    """The fragment capped in length and in nesting depth: (html, truncated, flattened)."""
    capped, truncated = cap_html(fragment, policy.max_html_chars)
    bounded, flattened = flatten_deep_html(capped)
    return bounded, truncated, flattened


def _author_names(entry: RawEntry) -> tuple[str, ...]:
    """The entry's author names cleaned, in order, each once."""
    names: dict[str, None] = {}
    for raw_name in entry.authors or ((entry.author,) if entry.author else ()):
        name = clean_plain_text(raw_name)
        if name:
            names[name] = None
    return tuple(names)


def normalize_entry(
    entry: RawEntry,
    *,
    feed_url: str,
    feed_language: str | None,
    discovered_at: datetime,
    policy: NormalizePolicy,
    guid_unstable: bool = False,
) -> Article:
    """Return the entry cleaned, sanitized, dated and identified; ParseError if unusable."""
    base = resolve_url(entry.base_url, feed_url) or resolve_url(feed_url)
    url = entry_url(entry.link, entry.guid, base, feed_url)
    canonical = canonical_url(url, policy.tracking_params)

    body_html, html_truncated, flattened = _bounded_html(
        entry.content_html or entry.summary_html or "", policy
    )
    sanitized = sanitize_html(body_html, base)
    sources = extract_sources(sanitized)
    content_html = link_citation_markers(sanitized, sources, LINK_REL)
    text, text_truncated = cap_text(html_to_text(content_html), policy.max_text_chars)
    text_truncated = text_truncated or html_truncated

    summary_source = (
        html_to_text(sanitize_html(_bounded_html(entry.summary_html, policy)[0], base))
        if entry.summary_html and entry.content_html
        else _first_paragraph(text)
    )
    summary, _ = cap_text(strip_citation_markers(summary_source, sources), policy.max_summary_chars)

    flags: list[str] = []
    title = clean_plain_text(defuse_text((entry.title or "").replace("\n", " ")))
    if not title:
        if not text and not canonical:
            raise ParseError(
                f"entry has no title, no link and no content in feed {feed_url}", url=feed_url
            )
        title = _first_paragraph(text) or canonical or ""
        title, _ = cap_text(title.replace("\n", " "), INFERRED_TITLE_CHARS)
        flags.append("title_inferred")
    title, title_truncated = cap_text(title, policy.max_title_chars)

    published_at, updated_at, date_flags = settle_dates(
        entry.published_at,
        entry.updated_at,
        published_raw=entry.published_raw,
        discovered_at=discovered_at,
        future_tolerance=policy.future_date_tolerance,
    )
    flags.extend(date_flags)
    if title_truncated:
        flags.append("title_truncated")
    if text_truncated:
        flags.append("text_truncated")
    if flattened:
        flags.append("html_flattened")

    authors = _author_names(entry)
    return Article(
        entry_key=entry_key(entry.guid, canonical, title, text, guid_unstable=guid_unstable),
        title=title,
        url=url,
        canonical_url=canonical,
        summary=summary,
        text=text,
        content_html=content_html,
        language=article_language(entry.language, feed_language, text or title),
        published_at=published_at,
        updated_at=updated_at,
        discovered_at=discovered_at,
        content_hash=content_hash(title, text),
        author=authors[0] if authors else None,
        flags=tuple(flags),
        sources=sources,
        guid=entry.guid,
        authors=authors,
    )
