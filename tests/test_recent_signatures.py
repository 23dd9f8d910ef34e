"""The process-wide near-duplicate index reads only new rows, and catches rows committed late."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage.models import ArticleRecord, Feed, utcnow
from tasks.normalize.near_duplicates import text_signature
from tasks.pipeline import RecentSignatures

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


def _sig(row_id: int) -> str:
    return text_signature(STORY.format(n=" ".join(f"word{row_id}x{i}" for i in range(40))))


def test_a_row_committed_after_a_higher_id_is_still_indexed(session: Session) -> None:
    feed = Feed(url="https://news.example.org/feed.xml")
    session.add(feed)
    session.commit()
    assert feed.id is not None
    recent = RecentSignatures()
    since = utcnow() - timedelta(days=1)
    _article(session, feed.id, 1)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(1)) == "story-1"
    # Id 3 commits before id 2 (two writers): the read after 3 must not skip 2 for good.
    _article(session, feed.id, 3)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(3)) == "story-3"
    assert recent.find(_sig(2)) is None
    _article(session, feed.id, 2)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent.find(_sig(2)) == "story-2"


def test_a_hole_is_forgotten_after_its_time(session: Session) -> None:
    feed = Feed(url="https://news.example.org/feed.xml")
    session.add(feed)
    session.commit()
    assert feed.id is not None
    recent = RecentSignatures()
    recent.HOLE_SECONDS = 0.0
    since = utcnow() - timedelta(days=1)
    _article(session, feed.id, 1)
    recent.refresh(session, since=since, threshold=0.5)
    _article(session, feed.id, 5)
    recent.refresh(session, since=since, threshold=0.5)
    recent.refresh(session, since=since, threshold=0.5)
    assert recent._holes == {}
