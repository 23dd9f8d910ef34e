"""The alias automaton: one Aho-Corasick automaton over every folded alias of the store."""

from __future__ import annotations

import gc
import math
import pickle
import uuid
from array import array
from collections.abc import Iterable
from pathlib import Path

import ahocorasick_rs
import numpy as np

from newsworker.stages.enrich.alias_index import (
    build_tables,
    full_name_profiles,
    release_freed_memory,
)
from newsworker.stages.enrich.aliases import (
    KIND_ACRONYM,
    PROFILE_TYPES,
    TOKEN,
    AliasEntry,
    MatchableProfile,
    capitalised_as,
)
from newsworker.stages.enrich.explain import Explanation, explain
from newsworker.stages.enrich.folding import fold_ascii, fold_beyond_ascii
from newsworker.stages.enrich.policy import EnrichPolicy
from newsworker.stages.enrich.resolution import resolve
from newsworker.stages.records import EntityMatch

_FORMAT_VERSION = 3

# tuple.__new__(Record, values) builds a NamedTuple without its Python-level __new__: per mention.
_new_tuple = tuple.__new__


class EntityMatcher:
    """Find and resolve mentions of stored profiles in an article's plain text."""

    def __init__(
        self,
        *,
        patterns: str,
        profile_ids: list[str],
        profile_types: array[int],
        priors: array[float],
        cues: list[str],
        entry_start: array[int],
        entry_profile: array[int],
        entry_kind: array[int],
        entry_caps: array[int],
        entry_tokens: array[int],
        lower_start: bytearray | None = None,
        trailing_mark: bytearray | None = None,
        inner_marks: bytearray | None = None,
        mark_forms: list[str] | None = None,
        policy: EnrichPolicy | None = None,
    ) -> None:
        # Searched as bytes: the folded text is ASCII bytes already, and a str haystack costs a
        # pass over it to turn byte offsets into character offsets.
        pattern_list = patterns.encode().split(b"\n")
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            pattern_list, implementation=ahocorasick_rs.Implementation.ContiguousNFA
        )
        # Kept as one string, the patterns joined by newlines, instead of a million small
        # objects: forked children never touch it.
        self._pattern_blob = patterns
        self._pattern_count = len(pattern_list)
        del pattern_list
        self.profile_ids = profile_ids
        self.profile_types = profile_types
        self.priors = priors
        self.cues = cues
        # The entries of pattern p are entry_start[p] to entry_start[p + 1], latest alias first.
        self._entry_start = entry_start
        self._entry_profile = entry_profile
        self._entry_kind = entry_kind
        self._entry_caps = entry_caps
        self._entry_tokens = entry_tokens
        # Patterns with an alias whose first word is lower case ("de Gaulle", "eBay").
        self._lower_start = (
            lower_start if lower_start is not None else bytearray(self._pattern_count)
        )
        # Per pattern: the mark (".", "!") some alias behind it ends with, else 0. Folding blanks
        # it, so a mention extends over it where the text has it: "U.S.", not "U.S".
        self.trailing_mark = (
            trailing_mark if trailing_mark is not None else bytearray(self._pattern_count)
        )
        # Per pattern written with marks inside ("St. Louis" as "st  louis"): the index in
        # mark_forms of those marks, which the text must have too; 0 for every other pattern.
        self.inner_marks = (
            inner_marks if inner_marks is not None else bytearray(self._pattern_count)
        )
        self.mark_forms = mark_forms or [""]
        # Per pattern: the profile when its only entry is a full name of several words (the
        # common case, which resolution attaches at once), else -1.
        self.full_name_profile = full_name_profiles(
            entry_start, entry_profile, entry_kind, entry_tokens
        )
        self.policy = policy or EnrichPolicy()
        # Tells this build from any other, also in forked children holding a copy of it: work
        # they matched with it is used only by a process whose matcher has the same build_id.
        self.build_id = uuid.uuid4().hex

    @property
    def profile_count(self) -> int:
        """How many profiles the matcher knows."""
        return len(self.profile_ids)

    @property
    def alias_count(self) -> int:
        """How many (alias, profile) pairs the automaton holds, derived short forms included."""
        return len(self._entry_profile)

    @property
    def pattern_count(self) -> int:
        """How many distinct folded patterns the automaton holds."""
        return self._pattern_count

    @classmethod
    def build(
        cls, profiles: Iterable[MatchableProfile], *, policy: EnrichPolicy | None = None
    ) -> EntityMatcher:
        """Build the automaton over every profile's name, aliases and derived short forms."""
        # The build allocates millions of objects that all survive: collections would only
        # traverse them again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            matcher = cls(**build_tables(profiles)._asdict(), policy=policy)
        finally:
            if collecting:
                gc.enable()
        release_freed_memory()
        return matcher

    def save(self, path: str | Path) -> None:
        """Persist the folded patterns and tables, so a later load skips folding."""
        state = {
            "format": _FORMAT_VERSION,
            "patterns": self._pattern_blob,
            "profile_ids": self.profile_ids,
            "profile_types": self.profile_types,
            "priors": self.priors,
            "cues": self.cues,
            "entry_start": self._entry_start,
            "entry_profile": self._entry_profile,
            "entry_kind": self._entry_kind,
            "entry_caps": self._entry_caps,
            "entry_tokens": self._entry_tokens,
            "lower_start": self._lower_start,
            "trailing_mark": self.trailing_mark,
            "inner_marks": self.inner_marks,
            "mark_forms": self.mark_forms,
        }
        target = Path(path)
        partial = target.with_suffix(target.suffix + ".partial")
        with partial.open("wb") as handle:
            pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(target)

    @classmethod
    def load(cls, path: str | Path, *, policy: EnrichPolicy | None = None) -> EntityMatcher:
        """Load a build saved by save(); only our own cache files may be given here."""
        try:
            with Path(path).open("rb") as handle:
                state = pickle.load(handle)  # noqa: S301 - a cache file this process family wrote
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as e:
            raise ValueError(f"{path} is not a readable matcher build") from e
        if not isinstance(state, dict) or state.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{path} is not a matcher build of format {_FORMAT_VERSION}")
        del state["format"]
        matcher = cls(**state, policy=policy)
        del state
        release_freed_memory()
        return matcher

    def raw_spans(self, text: str) -> list[tuple[int, int, int, int, int]]:
        """Every alias occurrence at word boundaries, overlapping, longest first.

        Each is (-folded_length, folded_start, pattern, start, end); start and end index text.
        """
        folded = fold_ascii(text)
        offsets: list[int] | None = None
        if folded is not None:
            found = self._automaton.find_matches_as_indexes(b" " + folded + b" ", overlapping=True)
        else:
            folded_text, offsets = fold_beyond_ascii(text)
            padded = f" {folded_text} "
            haystack = padded.encode()
            found = self._automaton.find_matches_as_indexes(haystack, overlapping=True)
            if len(haystack) != len(padded) and found:
                found = _char_offsets(haystack, found)
        # Tuples lead with (-length, start) so a plain sort puts the longest, leftmost first.
        if offsets is None:
            spans = [
                (start + 2 - end, start, pattern, start, end - 2) for pattern, start, end in found
            ]
        else:
            spans = [
                (start + 2 - end, start, pattern, offsets[start], offsets[end - 2])
                for pattern, start, end in found
            ]
        spans.sort()
        return spans

    def may_start_lower(self, pattern: int) -> bool:
        """True when some alias of the pattern begins with a lower-case word."""
        return bool(self._lower_start[pattern])

    def entries_fitting(self, pattern: int, span: str) -> tuple[AliasEntry, ...]:
        """The pattern's aliases whose case rules the span text satisfies."""
        entry = self._entry_start[pattern]
        last = self._entry_start[pattern + 1]
        if last - entry == 1:  # the common case: one alias behind the pattern
            kind = self._entry_kind[entry]
            if kind == KIND_ACRONYM:
                fits = span.isupper()
            # Title-case or all-caps spans satisfy every capitalisation mask: skip tokenising.
            elif span.istitle() or span.isupper():
                fits = True
            else:
                count = self._entry_tokens[entry]
                fits = capitalised_as(TOKEN.findall(span), self._entry_caps[entry], count)
            if not fits:
                return ()
            return (
                _new_tuple(
                    AliasEntry,
                    (
                        self._entry_profile[entry],
                        kind,
                        self._entry_caps[entry],
                        self._entry_tokens[entry],
                    ),
                ),
            )
        span_upper = span.isupper()
        tokens = None if span_upper or span.istitle() else TOKEN.findall(span)
        fitting: list[AliasEntry] = []
        for index in range(entry, last):
            fitting.extend(self._entry_if_fits(index, span_upper, tokens))
        return tuple(fitting)

    def _entry_if_fits(
        self, entry: int, span_upper: bool, tokens: list[str] | None
    ) -> tuple[AliasEntry, ...]:
        kind = self._entry_kind[entry]
        caps = self._entry_caps[entry]
        count = self._entry_tokens[entry]
        if kind == KIND_ACRONYM:
            ok = span_upper
        else:
            ok = tokens is None or capitalised_as(tokens, caps, count)
        return (AliasEntry(self._entry_profile[entry], kind, caps, count),) if ok else ()

    def match(self, text: str, *, policy: EnrichPolicy | None = None) -> list[EntityMatch]:
        """The profiles the text mentions, with confidence and mentions, in first-mention order."""
        return resolve(text, self, policy or self.policy)

    def explain(
        self, text: str, *, policy: EnrichPolicy | None = None
    ) -> tuple[list[EntityMatch], Explanation]:
        """match(), and why each candidate mention was attached or refused."""
        return explain(text, self, policy or self.policy)

    def prior_of(self, profile: int) -> float | None:
        """The profile's popularity prior, or None."""
        value = self.priors[profile]
        return None if math.isnan(value) else value

    def type_of(self, profile: int) -> str:
        """The profile's type name."""
        return PROFILE_TYPES[self.profile_types[profile]]


def _char_offsets(haystack: bytes, found: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Matches with UTF-8 byte offsets turned into character offsets."""
    utf8 = np.frombuffer(haystack, dtype=np.uint8)
    # Characters before each byte offset: count the bytes that start a character.
    before = np.zeros(len(utf8) + 1, dtype=np.int64)
    np.cumsum((utf8 & 0xC0) != 0x80, out=before[1:])
    table = np.array(found, dtype=np.int64)
    table[:, 1:] = before[table[:, 1:]]
    return [(pattern, start, end) for pattern, start, end in table.tolist()]
