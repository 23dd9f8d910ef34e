"""The process-wide caches a poll reads through: recent articles' signatures, profile snapshots."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session

from newsworker.stages.normalize.near_duplicates import NearDuplicateIndex
from newsworker.stages.records import ProfileSnapshot
from newsworker.storage import articles as article_store
from newsworker.storage.profiles import load_snapshots

# An article row as the near-duplicate index holds it: id, story id, signature, discovered at.
SignedRow = tuple[int, str, str, datetime]


class RecentSignatures:
    """The process's LSH index over recent articles' signatures, refreshed by id deltas.

    Reading every recent signature on each poll would cost a full window scan per feed (and a
    linear similarity scan per article); this keeps the index and reads only rows past the last
    id seen.
    """

    # Concurrent transactions can commit ids out of order: an id skipped by a read may still
    # commit. Skipped ids are re-checked for this long, then taken as rolled back or deleted.
    HOLE_SECONDS = 120.0
    MAX_HOLES = 10_000

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._index: NearDuplicateIndex | None = None
        self._stories: dict[str, str] = {}
        self._order: deque[tuple[str, datetime]] = deque()
        self._last_id = 0
        self._holes: dict[int, float] = {}

    def refresh(self, session: Session, *, since: datetime, threshold: float) -> None:
        """Add committed signatures newer than the last refresh; forget those out of the window."""
        with self._lock:
            if self._index is None or self._index.threshold != threshold:
                self._index, self._last_id = NearDuplicateIndex(threshold), 0
                self._stories.clear()
                self._order.clear()
                self._holes.clear()
            first_read = self._last_id == 0
            rows = list(
                article_store.signatures_after(
                    session=session, after_id=self._last_id, since=since, limit=self.limit
                )
            )
            now = time.monotonic()
            if self._holes:
                self._holes = {
                    i: seen for i, seen in self._holes.items() if now - seen < self.HOLE_SECONDS
                }
                rows[:0] = article_store.signatures_of(
                    session=session, ids=list(self._holes), since=since
                )
            previous = self._last_id
            for row_id, story_id, signature, discovered_at in rows:
                key = str(row_id)
                self._holes.pop(row_id, None)
                if not first_read and row_id > previous + 1 and len(self._holes) < self.MAX_HOLES:
                    # Ids between the last one read and this one: not committed yet, or rows
                    # without a signature. Either way re-checked until HOLE_SECONDS pass.
                    first_hole = max(previous + 1, row_id - self.MAX_HOLES)
                    self._holes.update(dict.fromkeys(range(first_hole, row_id), now))
                previous = max(previous, row_id)
                if key in self._stories:
                    continue
                self._index.add(key, signature)
                self._stories[key] = story_id
                self._order.append((key, discovered_at))
            self._last_id = previous
            while self._order and (self._order[0][1] < since or len(self._order) > self.limit):
                key, _ = self._order.popleft()
                self._index.remove(key)
                self._stories.pop(key, None)

    def add_committed(self, rows: Sequence[SignedRow]) -> None:
        """Index rows this process has just committed, so the next refresh need not read them.

        The last id read moves past them only when their ids follow it without a gap: an id in
        a gap may be another writer's, still uncommitted, and only a read can tell.
        """
        with self._lock:
            if self._index is None or not rows:
                return
            ids = sorted(row[0] for row in rows)
            follows = ids[0] == self._last_id + 1 and ids[-1] - ids[0] == len(ids) - 1
            for row_id, story_id, signature, discovered_at in rows:
                key = str(row_id)
                if signature and key not in self._stories:
                    self._index.add(key, signature)
                    self._stories[key] = story_id
                    self._order.append((key, discovered_at))
            if follows:
                self._last_id = ids[-1]

    def find(self, signature: str) -> str | None:
        """The story of the most similar indexed signature at or above the threshold."""
        with self._lock:
            if self._index is None:
                return None
            keys = self._index.query(signature)
            return self._stories[keys[0]] if keys else None


class SnapshotCache:
    """Profile snapshots of the current matcher's profile set, loaded once per process.

    A new matcher means the store's profile version changed, so the cache starts over; within
    one version a snapshot cannot change. Loading them per feed would cost a query and an object
    per profile for every batch.
    """

    # About 1 KB a snapshot: a full cache starts over, so it stays near 10 MB per process.
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._matcher: object | None = None
        self._snapshots: dict[str, ProfileSnapshot | None] = {}

    def get(
        self, session: Session, matcher: object, ids: Iterable[str]
    ) -> dict[str, ProfileSnapshot]:
        """Snapshots of ids (unknown ids left out), valid for matcher's profile set."""
        with self._lock:
            if matcher is not self._matcher or len(self._snapshots) > self.limit:
                self._matcher = matcher
                self._snapshots = {}
            cached = self._snapshots
            wanted = set(ids)
            missing = wanted - cached.keys()
            if missing:
                loaded = load_snapshots(session=session, ids=missing)
                for profile_id in missing:
                    cached[profile_id] = loaded.get(profile_id)
            return {i: snapshot for i in wanted if (snapshot := cached[i]) is not None}
