"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from newsworker.storage.db import create_db_engine
from newsworker.storage.migrate import current_revision, head_revision, is_at_head, upgrade
from newsworker.storage.story_payloads import get_story


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
