"""Which entities become profiles: people (P31 human) and organisations (a shipped class list)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsworker.stages.wikidata.entity import item_claims, qid_number

DATA = Path(__file__).resolve().parent / "data"
ORGANIZATION_CLASSES_FILE = DATA / "organization_classes.txt"
COMMON_WORDS_FILE = DATA / "common_words.txt"
HUMAN = 5
DISAMBIGUATION_PAGE = 4167410

# Skip reasons, as the summary table shows them.
NOT_AN_ITEM = "not an item (property, lexeme, ...)"
NO_CLASS = "no P31 (instance of)"
DISAMBIGUATION = "disambiguation page"
OTHER_CLASS = "not a person or organisation"


@dataclass(frozen=True)
class ClassFilter:
    """The P31 classes kept: human as person, the listed classes as organization."""

    organizations: frozenset[int]

    @property
    def wanted(self) -> frozenset[int]:
        """Every kept class number, people included."""
        return self.organizations | {HUMAN}

    def classify(self, entity: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(profile type, None) for a kept entity, else (None, skip reason)."""
        entity_id = entity.get("id")
        if entity.get("type", "item") != "item" or not isinstance(entity_id, str):
            return None, NOT_AN_ITEM
        if qid_number(entity_id) is None:
            return None, NOT_AN_ITEM
        classes = item_claims(entity, "P31")
        if not classes:
            return None, NO_CLASS
        if HUMAN in classes:
            return "person", None
        if not self.organizations.isdisjoint(classes):
            return "organization", None
        if DISAMBIGUATION_PAGE in classes:
            return None, DISAMBIGUATION
        return None, OTHER_CLASS


def read_word_file(lines: Iterable[str]) -> list[str]:
    """The entries of a data file: the first word of each line, `#` comments and blanks skipped."""
    entries = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            entries.append(text.split()[0])
    return entries


def load_class_filter(path: Path | None = None) -> ClassFilter:
    """The class filter from a class file (default: shipped); ValueError names a bad line."""
    path = path or ORGANIZATION_CLASSES_FILE
    numbers = set()
    for entry in read_word_file(path.read_text(encoding="utf-8").splitlines()):
        number = qid_number(entry)
        if number is None:
            raise ValueError(f"{path}: {entry!r} is not a QID such as Q43229")
        numbers.add(number)
    if not numbers:
        raise ValueError(f"{path}: no class QIDs")
    return ClassFilter(organizations=frozenset(numbers - {HUMAN}))


def load_common_words(path: Path | None = None) -> frozenset[str]:
    """The common words that are dropped as aliases (lower-cased)."""
    path = path or COMMON_WORDS_FILE
    return frozenset(
        w.casefold() for w in read_word_file(path.read_text(encoding="utf-8").splitlines())
    )
