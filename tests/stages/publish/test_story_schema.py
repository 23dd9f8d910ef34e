"""The v1 story contract: build_story output validates against docs/schema/story.v1.json."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from newsworker import __version__
from newsworker.stages.publish import PRODUCER, SCHEMA_VERSION, story_id_for
from newsworker.stages.publish.story import _STORY_NAMESPACE, EVENTS, utc_iso
from newsworker.stages.records import RawEntry
from tests.support.paths import DOCS
from tests.support.schema import SCHEMA_PATH, assert_valid_story, example_story, story_errors


def test_built_story_is_valid_and_carries_the_event_fields() -> None:
    story = example_story(n=1)
    assert_valid_story(story)
    assert story["schema_version"] == SCHEMA_VERSION == "1.0"
    assert story["producer"] == PRODUCER == f"newsworker/{__version__}"
    assert story["idempotency_key"] == f"{story['story_id']}:1"
    assert story["occurred_at"] == "2026-11-29T12:00:00Z"
    assert story["article"]["updated_at"] is None
    assert story["entities"][0]["profile"]["sources"][0]["licence"] == "CC BY"
    # Round-trips through JSON unchanged: nothing but JSON types inside.
    assert json.loads(json.dumps(story)) == story


def test_updated_revision_is_valid() -> None:
    story = example_story(n=1, revision=3)
    assert_valid_story(story)
    assert (story["event"], story["revision"]) == ("updated", 3)
    assert story["idempotency_key"].endswith(":3")


def test_unknown_top_level_fields_are_allowed_but_required_ones_are_strict() -> None:
    story = example_story()
    story["added_in_1_1"] = {"anything": True}
    assert_valid_story(story)
    del story["article"]["canonical_url"]
    story["revision"] = 0
    errors = story_errors(story)
    assert any("canonical_url" in e for e in errors)
    assert any(e.startswith("revision") for e in errors)


def test_offsets_that_miss_the_text_fail_the_helper() -> None:
    story = example_story()
    story["entities"][0]["mentions"][0]["start"] = 1
    with pytest.raises(AssertionError, match="not at its offsets"):
        assert_valid_story(story)


def test_story_id_is_stable_and_prefers_the_canonical_url() -> None:
    a = story_id_for(canonical_url="https://x.org/a", feed_url="https://f1/feed", entry_key="1")
    b = story_id_for(canonical_url="https://x.org/a", feed_url="https://f2/feed", entry_key="9")
    c = story_id_for(canonical_url=None, feed_url="https://f1/feed", entry_key="1")
    d = story_id_for(canonical_url=None, feed_url="https://f1/feed", entry_key="2")
    assert a == b
    assert len({a, c, d}) == 3
    assert uuid.UUID(a).version == 5
    # Pinned: a change here would re-identify every stored story.
    assert a == "2d061c86-9edc-550c-ab72-44095b7f39d8"


@pytest.mark.parametrize(
    ("canonical_url", "entry_key"),
    [
        ("https://x.org/a", "1"),
        ("https://例え.jp/ニュース?q=ü", "g"),
        (None, "tag:x.org,2026:\u00e9t\u00e9"),
        (None, ""),
        ("", "https://x.org/" + "z" * 3000),
    ],
)
def test_story_id_is_uuid5_of_the_name(canonical_url: str | None, entry_key: str) -> None:
    """story_id_for spells out uuid5: it must give exactly uuid.uuid5's answer."""
    name = f"url:{canonical_url}" if canonical_url else f"entry:https://f/feed\n{entry_key}"
    expected = str(uuid.uuid5(_STORY_NAMESPACE, name))
    got = story_id_for(canonical_url=canonical_url, feed_url="https://f/feed", entry_key=entry_key)
    assert got == expected


def test_datetimes_are_utc_with_z() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert utc_iso(datetime(2026, 1, 1, 14, 0, tzinfo=plus2), field="f") == "2026-01-01T12:00:00Z"
    assert utc_iso(datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=UTC), field="f").endswith(".000005Z")
    with pytest.raises(ValueError, match="occurred_at"):
        utc_iso(datetime(2026, 1, 1), field="occurred_at")


def test_bad_event_and_revision_are_refused() -> None:
    with pytest.raises(ValueError, match="event"):
        example_story(event="deleted")
    with pytest.raises(ValueError, match="revision"):
        example_story(revision=0)


def test_every_event_the_schema_lists_is_one_the_producer_sends() -> None:
    # `retracted` had no honest signal behind it and was never sent: it is out of the schema.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["properties"]["event"]["enum"] == list(EVENTS) == ["created", "updated"]
    with pytest.raises(ValueError, match="event"):
        example_story(event="retracted")
    consumers = (DOCS / "consumers.md").read_text(encoding="utf-8")
    assert "`created` / `updated` / `retracted`" not in consumers
    assert "There is no `retracted` event" in consumers


def test_article_sources_come_from_the_article_alone() -> None:
    # The parser never filled RawEntry.sources, and a feed's <source> names where an item was
    # copied from, not what it cites: the field is gone, sources are the article's own list.
    assert "sources" not in {f.name for f in dataclasses.fields(RawEntry)}
