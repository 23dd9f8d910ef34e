"""The prepare step of a poll: parse -> fingerprint -> normalize -> sign -> match, on data alone.

Everything here is pure: a PrepareJob (the fetched body and the feed's state) in, a PreparedFeed
out, no session, broker or network. That is what lets `newsworker run` hand it to other
processes while the main one stores earlier feeds (worker/prepare_pool.py), and lets a Celery
task run the very same function in-line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from newsworker.stages.enrich import EntityMatcher
from newsworker.stages.errors import ParseError
from newsworker.stages.normalize import (
    NormalizePolicy,
    entry_fingerprints,
    normalize_entry,
    text_signature,
)
from newsworker.stages.parse import parse_feed
from newsworker.stages.records import Article, EntityMatch


@dataclass(frozen=True, slots=True)
class PrepareJob:
    """One fetched feed body and what the prepare step needs to know about its feed."""

    body: bytes
    body_url: str  # where the body came from (after redirects): the base for relative links
    content_type: str | None
    feed_url: str
    feed_language: str | None
    guid_unstable: bool
    # Fingerprints of the entries the feed carried at its last poll: those are not normalized.
    known_fingerprints: frozenset[str]
    max_entries: int
    discovered_at: datetime
    policy: NormalizePolicy = field(default_factory=NormalizePolicy)


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed feed's metadata and its new or changed entries, normalized, signed, matched."""

    title: str | None
    link: str | None
    language: str | None  # declared by the feed, else what the store knew
    ttl_seconds: int | None
    entry_count: int  # entries in the body, before the cap
    fingerprints: tuple[str, ...]  # of every entry taken (the next poll's known set)
    entry_times: tuple[datetime, ...]  # published dates the feed declared, for scheduling
    articles: tuple[Article, ...]  # unseen entries, normalized, first copy of each entry key
    signatures: dict[str, str]  # entry key -> near-duplicate text signature
    unchanged: int  # entries skipped because their fingerprint was known
    rejected: tuple[str, ...] = ()  # one message per unusable entry, naming it
    # Entity matches per entry key, when a matcher was given, and that matcher's build_id.
    matches: dict[str, list[EntityMatch]] | None = None
    matched_by: str | None = None

    @property
    def capped(self) -> bool:
        """True when the body had more entries than one poll takes."""
        return self.entry_count > len(self.fingerprints)


def prepare_feed(job: PrepareJob, matcher: EntityMatcher | None = None) -> PreparedFeed:
    """Parse the body and normalize the entries unseen at the last poll; ParseError if unusable.

    With a matcher, the articles' entity matches are found here too (the store step uses them
    only if its own matcher is the same build).
    """
    parsed = parse_feed(job.body, url=job.body_url, content_type=job.content_type)
    entries = parsed.entries[: job.max_entries]
    language = parsed.language or job.feed_language
    fingerprints = entry_fingerprints(
        entries,
        feed_url=job.feed_url,
        feed_language=language,
        guid_unstable=job.guid_unstable,
        policy=job.policy,
    )
    seen: set[str] = set()
    articles: list[Article] = []
    rejected: list[str] = []
    unchanged = 0
    for index, (entry, fingerprint) in enumerate(zip(entries, fingerprints, strict=True)):
        if fingerprint in job.known_fingerprints:
            unchanged += 1
            continue
        try:
            article = normalize_entry(
                entry,
                feed_url=job.feed_url,
                feed_language=language,
                discovered_at=job.discovered_at,
                policy=job.policy,
                guid_unstable=job.guid_unstable,
            )
        except ParseError as e:
            rejected.append(f"entry {index}: {e}")
            continue
        if article.entry_key in seen:
            continue
        seen.add(article.entry_key)
        articles.append(article)
    return PreparedFeed(
        title=parsed.title,
        link=parsed.link,
        language=language,
        ttl_seconds=parsed.ttl_seconds,
        entry_count=len(parsed.entries),
        fingerprints=tuple(fingerprints),
        entry_times=tuple(e.published_at for e in entries if e.published_at is not None),
        articles=tuple(articles),
        signatures={a.entry_key: text_signature(a.text) for a in articles},
        unchanged=unchanged,
        rejected=tuple(rejected),
        matches={a.entry_key: matcher.match(a.text) for a in articles} if matcher else None,
        matched_by=matcher.build_id if matcher else None,
    )
