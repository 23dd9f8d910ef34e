"""Two workers updating one story at once: the second retries instead of losing its change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from newsworker.config.settings import load_settings
from newsworker.stages.publish import story_id_for
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import create_db_engine, session_for
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import ArticleRecord, Feed, Story
from newsworker.storage.story_payloads import get_story
from newsworker.tasks.celery_tasks import RETRYABLE
from newsworker.tasks.pipeline import poll_feed
from newsworker.tasks.pipeline.story_writer import StoryWriter
from newsworker.tasks.runtime import build_runtime, set_runtime


def test_a_stale_story_update_is_refused_and_retryable(database_url: str) -> None:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        feed = Feed(url="https://feeds.example/rss")
        session.add(feed)
        session.commit()
        assert feed.id is not None
        article = ArticleRecord(
            feed_id=feed.id, entry_key="k", story_id="s1", title="t",
            published_at=datetime.now(UTC), content_hash="h",
        )  # fmt: skip
        session.add(article)
        session.commit()
        assert article.id is not None
        session.add(Story(story_id="s1", primary_article_id=article.id))
        session.commit()
    first, second = Session(engine), Session(engine)
    try:
        mine, theirs = first.get(Story, "s1"), second.get(Story, "s1")
        assert mine is not None and theirs is not None
        mine.revision = theirs.revision = 2
        first.add(mine)
        first.commit()
        second.add(theirs)
        with pytest.raises(StaleDataError) as raised:
            second.commit()
        assert isinstance(raised.value, RETRYABLE)
    finally:
        first.close()
        second.close()
        engine.dispose()


def _rss(title: str, link: str) -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>'
        f"<item><title>{title}</title><link>{link}</link><guid>{title}</guid>"
        "<pubDate>Mon, 27 Oct 2025 10:00:00 GMT</pubDate>"
        "<description>Ministers agreed on a plan for the harbour on Monday.</description>"
        "</item></channel></rss>"
    )


@pytest.mark.postgres
def test_concurrent_joins_to_one_story_keep_every_source(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        database_url=postgres_url, broker_url=None, redis_url=None,
        jsonl_path=tmp_path / "stories.jsonl", allow_file_urls=True,
    )  # fmt: skip
    upgrade(postgres_url)
    link = "https://news.example/harbour-plan"
    ids: list[int] = []
    with session_for(postgres_url) as session:
        for name in ("origin", "copy-b", "copy-c"):
            path = tmp_path / f"{name}.xml"
            path.write_text(_rss(f"Harbour plan ({name})", link))
            feed, _ = feed_store.add_feed(session=session, url=path.as_uri())
            session.flush()
            ids.append(feed.id or 0)
        session.commit()
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        assert poll_feed(runtime.context, ids[0]).new == 1
        # Both copies read the story at revision 1. The leader writes and commits revision 2;
        # only then does the follower write: its revision 2 event key is already taken, so the
        # outbox skips it as sent, and without the revision check its source would be silently lost.
        both_read = threading.Barrier(2, timeout=20)
        leader_committed = threading.Event()
        leader: list[int] = []
        choosing = threading.Lock()
        real_finish: Callable[[Any], None] = StoryWriter.finish

        def finish_in_turn(writer: Any) -> None:
            both_read.wait()
            with choosing:
                is_leader = not leader
                if is_leader:
                    leader.append(threading.get_ident())
            if not is_leader:
                assert leader_committed.wait(20)
            real_finish(writer)

        monkeypatch.setattr(StoryWriter, "finish", finish_in_turn)
        errors: list[BaseException] = []

        def poll(feed_id: int) -> None:
            try:
                poll_feed(runtime.context, feed_id)
            except BaseException as e:
                errors.append(e)
            finally:
                if leader and leader[0] == threading.get_ident():
                    leader_committed.set()

        threads = [threading.Thread(target=poll, args=(feed_id,)) for feed_id in ids[1:]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(errors) == 1 and isinstance(errors[0], StaleDataError), errors
        assert isinstance(errors[0], RETRYABLE)
        monkeypatch.setattr(StoryWriter, "finish", real_finish)
        # The retry (Celery's autoretry) polls the feed again and joins on top of the winner.
        loser = next(i for i in ids[1:] if i not in _sources(postgres_url, link))
        assert poll_feed(runtime.context, loser).status == "ok"
        assert _sources(postgres_url, link) == set(ids[1:])
    finally:
        set_runtime(None)


def _sources(database_url: str, link: str) -> set[int]:
    """Feed ids listed in also_reported_by of the story of link."""
    with session_for(database_url) as session:
        story = get_story(
            session=session, story_id=story_id_for(canonical_url=link, feed_url="", entry_key="")
        )
        assert story is not None
        urls = {source["feed_url"] for source in story["also_reported_by"]}
        feeds = [feed_store.find_feed(session=session, url_or_id=url) for url in urls]
        return {feed.id for feed in feeds if feed.id is not None}
