"""Validate story payloads against docs/schema/story.v1.json (used by every emitting test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from newsworker.stages.publish import build_story, story_id_for
from newsworker.stages.records import (
    Article,
    AttachedEntity,
    Citation,
    EntityMatch,
    FeedRef,
    Mention,
    ProfileSnapshot,
    ProfileSource,
)
from tests.support.paths import DOCS

SCHEMA_PATH = DOCS / "schema" / "story.v1.json"


@lru_cache(maxsize=1)
def story_validator() -> Draft202012Validator:
    """The checked v1 validator, formats included."""
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def story_errors(payload: Any) -> list[str]:
    """Every schema violation of payload, as 'path: message' lines."""
    errors = sorted(story_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def assert_valid_story(payload: Any) -> None:
    """Fail with every violation when payload is not a valid v1 story.

    Beyond the schema it checks what JSON Schema cannot: mention offsets point into
    article.text at the mention's text, and idempotency_key is story_id:revision.
    """
    errors = story_errors(payload)
    if not errors:
        text = payload["article"]["text"]
        for entity in payload["entities"]:
            for m in entity["mentions"]:
                if text[m["start"] : m["end"]] != m["text"]:
                    errors.append(f"entities/{entity['id']}: mention {m} is not at its offsets")
        if payload["idempotency_key"] != f"{payload['story_id']}:{payload['revision']}":
            errors.append("idempotency_key: must be story_id:revision")
    assert not errors, "story does not match story.v1.json:\n" + "\n".join(errors)


def example_story(
    *, n: int = 0, revision: int = 1, event: str | None = None, text_chars: int = 0
) -> dict[str, Any]:
    """A valid v1 story built through build_story; n varies the URL, text_chars pads the text."""

    when = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    url = f"https://news.example.org/2026/11/story-{n}"
    text = "Ada Lovelace spoke at the Analytical Engine Society. " + "x" * text_chars
    article = Article(
        entry_key=f"guid-{n}",
        title=f"Story {n}",
        url=url,
        canonical_url=url,
        summary="Ada Lovelace spoke.",
        text=text,
        content_html=f"<p>{text}</p>",
        language="en",
        published_at=when,
        updated_at=None,
        discovered_at=when,
        content_hash=f"hash-{n}",
        sources=(Citation(1, "Society minutes", "https://society.example.org/minutes"),),
    )
    feed = FeedRef(id=1, url="https://news.example.org/feed.xml", title="Example News")
    profile = ProfileSnapshot(
        id="person:ada-lovelace",
        type="person",
        name="Ada Lovelace",
        summary="English mathematician [1].",
        sources=(ProfileSource("Biography", "https://bio.example.org/ada", "2026-11-01", "CC BY"),),
        version="v1abc",
        updated_at=when,
    )
    match = EntityMatch("person:ada-lovelace", 0.93, (Mention("Ada Lovelace", 0, 12),))
    story_id = story_id_for(canonical_url=url, feed_url=feed.url, entry_key=article.entry_key)
    return build_story(
        story_id=story_id,
        revision=revision,
        event=event or ("created" if revision == 1 else "updated"),
        article=article,
        feed=feed,
        entities=[AttachedEntity(match, profile)],
        rendered=f"Story {n}\n\nAda Lovelace spoke.\n\n[1] Society minutes",
        occurred_at=when,
    )
