"""The process-wide near-duplicate index reads only new rows, and catches rows committed late."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from newsworker.stages.normalize.near_duplicates import text_signature
from newsworker.storage.models import ArticleRecord, Feed, utcnow
from newsworker.tasks.pipeline.caches import RecentSignatures

STORY = (
    "The finance ministers of the region met in the capital on Tuesday to agree a common "
    "position on energy prices, trade rules and the new budget for the coming year. {n}"
)


def _article(session: Session, feed_id: int, row_id: int) -> None:
    text = STORY.format(n=" ".join(f"word{row_id}x{i}" for i in range(40)))
    session.add(
        ArticleRecord(
            id=row_id,
            feed_id=feed_id,
            entry_key=f"e{row_id}",
            story_id=f"story-{row_id}",
            title=f"t{row_id}",
            text=text,
            published_at=utcnow(),
            content_hash=f"h{row_id}",
            signature=text_signature(text),
        )
    )
    session.commit()


def _feed(session: Session) -> int:
    feed = Feed(url="https://news.example.org/feed.xml")
    session.add(feed)
    session.commit()
    assert feed.id is not None
    return feed.id


def _sig(row_id: int) -> str:
    return text_signature(STORY.format(n=" ".join(f"word{row_id}x{i}" for i in range(40))))


def test_a_row_committed_after_a_higher_id_is_still_indexed(session: Session) -> None:
    feed_id = _feed(session)
    recent = RecentSignatures()
    since = utcnow() - timedelta(days=1)
    _article(session, feed_id, 1)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(1)) == "story-1"
    # Id 3 commits before id 2 (two writers): the read after 3 must not skip 2 for good.
    _article(session, feed_id, 3)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(3)) == "story-3"
    assert recent.find(_sig(2)) is None
    _article(session, feed_id, 2)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(2)) == "story-2"


def test_a_hole_is_forgotten_after_its_time(session: Session) -> None:
    feed_id = _feed(session)
    recent = RecentSignatures()
    recent.HOLE_SECONDS = 0.0
    since = utcnow() - timedelta(days=1)
    _article(session, feed_id, 1)
    recent.refresh(session, since=since, threshold=0.5)
    _article(session, feed_id, 5)
    recent.refresh(session, since=since, threshold=0.5)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent._holes == {}


def _own_row(row_id: int) -> tuple[int, str, str, datetime]:
    return (row_id, f"story-{row_id}", _sig(row_id), utcnow())


def test_own_committed_rows_are_indexed_without_reading_them_back(session: Session) -> None:
    feed_id = _feed(session)
    recent = RecentSignatures()
    since = utcnow() - timedelta(days=1)
    _article(session, feed_id, 1)
    recent.refresh(session, since=since, threshold=0.5)
    # This process committed 2 and 3 right after 1: indexed at once, and the last id moves on.
    for row_id in (2, 3):
        _article(session, feed_id, row_id)
    recent.add_committed([_own_row(2), _own_row(3)])
    assert recent.find(_sig(3)) == "story-3"
    assert recent._last_id == 3
    # 5 and 6 leave a gap (4: another writer's, maybe not committed yet): the last id read
    # stays, so the next refresh still reads 4.
    for row_id in (5, 6):
        _article(session, feed_id, row_id)
    recent.add_committed([_own_row(5), _own_row(6)])
    assert recent.find(_sig(6)) == "story-6"
    assert recent._last_id == 3
    _article(session, feed_id, 4)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(4)) == "story-4"
    assert recent._last_id == 6
    assert len(recent._index or ()) == 6
