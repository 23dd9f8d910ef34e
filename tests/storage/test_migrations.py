"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from newsworker.stages.publish.story import assemble_story
from newsworker.stages.records import Article, FeedRef
from newsworker.storage.articles import articles_by_entry_key, insert_articles
from newsworker.storage.db import create_db_engine
from newsworker.storage.migrate import current_revision, head_revision, is_at_head, upgrade
from newsworker.storage.story_payloads import get_story
from newsworker.tasks.pipeline.rows import article_of, article_values


def test_migrations_match_models(database_url: str) -> None:
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    assert is_at_head(database_url)
    engine = create_db_engine(database_url, pool=False)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    upgrade(sqlite_url)
    assert is_at_head(sqlite_url)


def test_0002_moves_each_story_payload_into_its_last_event(database_url: str) -> None:
    upgrade(database_url, "0001")
    engine = create_db_engine(database_url, pool=False)
    announced = {"story_id": "s1", "revision": 2, "article": {"title": "Announced"}}
    pruned = {"story_id": "s2", "revision": 1, "article": {"title": "Event pruned"}}
    when = "2026-11-29 10:00:00+00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feeds (id, url, status, interval_seconds, next_poll_at, error_count, "
                "redirect_candidate_count, url_history, guid_unstable, created_at) VALUES "
                "(1, 'https://example.org/feed', 'active', 900, :when, 0, 0, '[]', false, :when)"
            ),
            {"when": when},
        )
        for number in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO articles (id, feed_id, entry_key, story_id, revision, title, "
                    "summary, text, content_html, published_at, discovered_at, content_hash, "
                    "flags, sources) VALUES (:id, 1, :key, :story, 1, 't', '', '', '', :when, "
                    ":when, 'h', '[]', '[]')"
                ),
                {"id": number, "key": f"s{number}", "story": f"s{number}", "when": when},
            )
        connection.execute(
            text(
                "INSERT INTO stories (story_id, revision, last_event, primary_article_id, "
                "payload, created_at, updated_at) VALUES "
                "('s1', 2, 'updated', 1, :p1, :when, :when), "
                "('s2', 1, 'created', 2, :p2, :when, :when)"
            ),
            {"p1": json.dumps(announced), "p2": json.dumps(pruned), "when": when},
        )
        connection.execute(
            text(
                "INSERT INTO outbox_events (story_id, revision, event, idempotency_key, payload, "
                "created_at) VALUES ('s1', 1, 'created', 's1:1', '{}', :when), "
                "('s1', 2, 'updated', 's1:2', :p1, :when)"
            ),
            {"p1": json.dumps(announced), "when": when},
        )
    upgrade(database_url)
    with Session(engine) as session:
        assert get_story(session=session, story_id="s1") == announced
        assert get_story(session=session, story_id="s2") == pruned
        assert session.execute(text("SELECT count(*) FROM deliveries")).scalar() == 0
    engine.dispose()


def test_large_columns_use_lz4_on_postgresql(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = create_db_engine(postgres_url, pool=False)
    with engine.connect() as connection:
        methods = connection.execute(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
        compression = connection.execute(
            text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'outbox_events'::regclass AND attname = 'payload'"
            )
        ).scalar()
    engine.dispose()
    assert compression == ("l" if "lz4" in methods else "")


def _article(key: str, authors: tuple[str, ...]) -> Article:
    when = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    return Article(
        entry_key=key,
        title="Ministers meet",
        url=f"https://news.example.org/{key}",
        canonical_url=f"https://news.example.org/{key}",
        summary="",
        text="The ministers met.",
        content_html="<p>The ministers met.</p>",
        language="en",
        published_at=when,
        updated_at=None,
        discovered_at=when,
        content_hash=f"h-{key}",
        author=authors[0] if authors else None,
        authors=authors,
    )


def test_0005_keeps_every_author_through_the_store(database_url: str) -> None:
    # A row stored before 0005 has its main author only: it reads back as that one author.
    upgrade(database_url, "0004")
    engine = create_db_engine(database_url, pool=False)
    when = "2026-11-29 10:00:00+00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feeds (id, url, status, interval_seconds, next_poll_at, error_count, "
                "redirect_candidate_count, url_history, guid_unstable, created_at) VALUES "
                "(1, 'https://example.org/feed', 'active', 900, :when, 0, 0, '[]', false, :when)"
            ),
            {"when": when},
        )
        connection.execute(
            text(
                "INSERT INTO articles (id, feed_id, entry_key, story_id, revision, title, "
                "summary, text, content_html, published_at, discovered_at, content_hash, "
                "flags, sources, author) VALUES (100, 1, 'old', 's-old', 1, 't', '', '', '', "
                ":when, :when, 'h', '[]', '[]', 'Ann Lee')"
            ),
            {"when": when},
        )
    upgrade(database_url)
    authors = ("Ann Lee", "Bo Chen", "Émile Zola")
    with Session(engine) as session:
        values = {**article_values(_article("new", authors)), "story_id": "s-new"}
        insert_articles(session=session, feed_id=1, rows=[values])
        session.commit()
    with Session(engine) as session:
        rows = articles_by_entry_key(session=session, feed_id=1, entry_keys=["old", "new"])
        assert article_of(rows["new"]).authors == authors
        assert article_of(rows["old"]).authors == ("Ann Lee",)
        # A story rebuilt from the row (as a profile refresh does) names every author.
        story = assemble_story(
            story_id="s-new",
            revision=2,
            event="updated",
            article=article_of(rows["new"]),
            feed=FeedRef(id=1, url="https://example.org/feed", title=None),
            entities=(),
            occurred_at=datetime.now(UTC),
        )
        assert story["article"]["authors"] == list(authors)
    engine.dispose()
