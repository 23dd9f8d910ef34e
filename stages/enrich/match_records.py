"""Build the EntityMatch and Mention records of a resolved text, at the cost of slot writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from newsworker.stages.records import EntityMatch, Mention


def _slot_setters(record: type, names: tuple[str, ...]) -> list[Callable[[object, Any], None]]:
    """The slot setters of a frozen dataclass whose generated __init__ only assigns its fields."""
    fields = tuple(field.name for field in dataclasses.fields(record))
    if fields != names or hasattr(record, "__post_init__") or "__slots__" not in vars(record):
        raise TypeError(f"{record.__name__} is not a plain frozen slots dataclass")
    return [vars(record)[name].__set__ for name in names]


def _fast_records() -> tuple[Callable[[object, Any], None], ...] | None:
    """Slot setters for Mention and EntityMatch, or None when they are not plain records."""
    # Setting slots directly costs about half a frozen __init__, and an article makes two dozen
    # records. Should the records gain validation or fields, entity_matches() uses the constructors.
    try:
        return (
            *_slot_setters(Mention, ("text", "start", "end")),
            *_slot_setters(EntityMatch, ("profile_id", "confidence", "mentions")),
        )
    except (TypeError, KeyError, AttributeError):
        return None


_FAST_RECORDS = _fast_records()


def entity_matches(
    text: str, profile_ids: list[str], rows: list[tuple[int, float, list[tuple[int, int]]]]
) -> list[EntityMatch]:
    """One EntityMatch per (profile, confidence, spans) row, in the rows' order."""
    if _FAST_RECORDS is None:
        return [
            EntityMatch(
                profile_ids[profile],
                confidence,
                tuple([Mention(text[s:e], s, e) for s, e in spans]),
            )
            for profile, confidence, spans in rows
        ]
    new_object = object.__new__
    set_text, set_start, set_end, set_id, set_confidence, set_mentions = _FAST_RECORDS
    matches = []
    for profile, confidence, spans in rows:
        mentions = []
        for start, end in spans:
            mention = new_object(Mention)
            set_text(mention, text[start:end])
            set_start(mention, start)
            set_end(mention, end)
            mentions.append(mention)
        match = new_object(EntityMatch)
        set_id(match, profile_ids[profile])
        set_confidence(match, confidence)
        set_mentions(match, tuple(mentions))
        matches.append(match)
    return matches
