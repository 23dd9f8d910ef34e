"""The alias vocabulary the matcher and resolution share: records, kinds and case rules."""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from typing import NamedTuple, Protocol

KIND_FULL = 0  # the profile name or an explicit alias
KIND_ACRONYM = 1  # an all-caps alias such as APEC or G20: matches only in upper case
KIND_SHORT = 2  # a surname or given name derived from a person's name

PROFILE_TYPES = ("person", "organization", "place", "other")
TOKEN = re.compile(r"[^\W_]+")
# Particles that are never a short form on their own ("de", "van", "bin").
_NAME_PARTICLES = frozenset(
    "de da del della der di du la le van von bin binti al el ibn mac st".split()  # noqa: SIM905
)


@dataclass(frozen=True, slots=True)
class MatchableProfile:
    """What the matcher needs to know of a profile (no summary, no sources)."""

    id: str
    type: str
    name: str
    aliases: tuple[str, ...]
    prior: float | None
    # Folded cue words (nationality, office) read from the profile, for disambiguation.
    cues: tuple[str, ...] = ()


class AliasEntry(NamedTuple):
    """One (alias, profile) pair the automaton reported at a span."""

    profile: int
    kind: int
    caps_mask: int
    token_count: int


class Candidate(NamedTuple):
    """A span of the text with the aliases that fit it, after the case rules."""

    start: int
    end: int
    entries: tuple[AliasEntry, ...]
    pattern: int = -1


class SpanSource(Protocol):
    """What resolution reads of the matcher: its spans, alias entries and profile tables."""

    profile_ids: list[str]
    cues: list[str]
    full_name_profile: array[int]
    trailing_mark: bytearray
    inner_marks: bytearray
    mark_forms: list[str]

    def raw_spans(self, text: str) -> list[tuple[int, int, int, int, int]]:
        """Every alias occurrence, as (-folded_length, folded_start, pattern, start, end)."""
        ...

    def entries_fitting(self, pattern: int, span: str) -> tuple[AliasEntry, ...]:
        """The pattern's aliases whose case rules the span text satisfies."""
        ...

    def may_start_lower(self, pattern: int) -> bool:
        """True when some alias of the pattern begins with a lower-case word."""
        ...

    def prior_of(self, profile: int) -> float | None:
        """The profile's popularity prior, or None."""
        ...

    def type_of(self, profile: int) -> str:
        """The profile's type name."""
        ...


def is_acronym(alias: str) -> bool:
    """True for all-caps aliases like APEC, WHO, G20: they match only in upper case."""
    return len(alias) >= 2 and alias.isalnum() and alias.isupper()


def caps_mask(alias: str) -> int:
    """A bit per alias token that starts with a capital: the text must capitalise it too."""
    mask = 0
    for index, token in enumerate(TOKEN.findall(alias)[:31]):
        if token[0].isupper() or token[0].isdigit():
            mask |= 1 << index
    return mask


def capitalised_as(tokens: list[str], mask: int, count: int) -> bool:
    """True when the text's tokens are capitalised where the alias's caps mask asks."""
    if len(tokens) != count:
        # Folding changed the token count (rare scripts): fall back to the first letter.
        return bool(tokens) and tokens[0][0].isupper()
    for index, token in enumerate(tokens[:31]):
        if mask >> index & 1 and not (token[0].isupper() or token[0].isdigit()):
            return False
    return True


def short_forms(name: str) -> tuple[str, ...]:
    """Surname and given-name candidates of a person's name: its first and last tokens.

    Both ends are kept because the family name comes first in many names (Xi Jinping, Kim Jong
    Un) and last in others; resolution only trusts them after a full mention or when distinctive.
    """
    tokens = name.replace(",", " ").split() if "," in name else name.split()
    if "." in name:
        tokens = [t for t in tokens if t.strip(".")]
    if len(tokens) < 2:
        return ()
    first, last = tokens[0], tokens[-1]
    first_fits = _is_short_form(first)
    if not _is_short_form(last):
        return (first,) if first_fits else ()
    return (first, last) if first_fits and first != last else (last,)


def _is_short_form(token: str) -> bool:
    """A capitalised word of two letters or more, not an initial ("J.") nor a particle ("van")."""
    return (
        len(token) > 1
        and token[0].isupper()
        and token[-1] != "."
        and token.lower() not in _NAME_PARTICLES
    )
