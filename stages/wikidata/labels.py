"""The label table: labels of the items that kept entities' claims point to, and nothing else.

A claim's value (occupation, country, ...) is an item id; the summary needs its label. Storing
every label of a full dump would take several GB, so the table stores only labels of items a
kept entity refers to ("wanted"). An item can appear in the dump before the first entity that
wants it: the table then notes it as "missed" (a bitmap of the items seen so far tells), and a
second, cheap pass over the file picks those labels up (`needs_second_pass`). From stdin there is
no second pass: missed labels stay unresolved and are counted.

Memory: a bitmap of one bit per item number seen (about 17 MB for Q1..Q135M), a set of the
wanted numbers and a dict of their labels. Distinct values of P106/P39/P27/P17/P159 over all
people and organisations are in the hundreds of thousands, so the table stays well under 1 GB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from newsworker.stages.wikidata.entity import text_by_language


class Bitmap:
    """A growable set of small non-negative integers, one bit each."""

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, number: int) -> None:
        """Set the number's bit."""
        index = number >> 3
        if index >= len(self._bits):
            self._bits.extend(bytes(max(index + 1 - len(self._bits), len(self._bits) // 2)))
        self._bits[index] |= 1 << (number & 7)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        index = number >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (number & 7)))

    @property
    def nbytes(self) -> int:
        """Bytes allocated."""
        return len(self._bits)


class LabelTable:
    """Labels of wanted items, in the first of the chosen languages that has one."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        self.labels: dict[int, str] = {}
        self.wanted: set[int] = set()
        self.missed: set[int] = set()
        self.seen = Bitmap()

    def want(self, numbers: Iterable[int]) -> None:
        """Ask for these items' labels; those already streamed past are noted as missed."""
        for number in numbers:
            if number in self.wanted:
                continue
            self.wanted.add(number)
            if number in self.seen:
                self.missed.add(number)

    def saw(self, number: int, entity: Mapping[str, Any] | None) -> None:
        """An item streamed past: keep its label if it is wanted."""
        self.seen.add(number)
        if entity is not None and number in self.wanted:
            self.take(number, entity)

    def take(self, number: int, entity: Mapping[str, Any]) -> None:
        """Store the item's label and clear it from missed."""
        label = text_by_language(entity.get("labels"), self.languages)
        if label is not None:
            self.labels[number] = label[1]
        self.missed.discard(number)

    @property
    def needs_second_pass(self) -> bool:
        """True when some wanted labels went by before anything wanted them."""
        return bool(self.missed)

    def get(self, number: int) -> str | None:
        """The item's label, or None."""
        return self.labels.get(number)

    def unresolved(self) -> int:
        """Wanted items with no label found."""
        return sum(1 for n in self.wanted if n not in self.labels)
