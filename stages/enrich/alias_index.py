"""Build the matcher's alias tables: fold every alias once, sort and group them by pattern."""

from __future__ import annotations

import ctypes
import math
from array import array
from collections.abc import Iterable
from itertools import islice
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from newsworker.stages.enrich.aliases import (
    KIND_ACRONYM,
    KIND_FULL,
    KIND_SHORT,
    PROFILE_TYPES,
    MatchableProfile,
    caps_mask,
    is_acronym,
    short_forms,
)
from newsworker.stages.enrich.folding import (
    aliases_folded_as_text,
    fold_aliases_joined,
    trailing_marks,
)

# Profiles collected per batch, and aliases folded per call, while building.
_PROFILE_BATCH = 20_000
_FOLD_CHUNK = 50_000
# Folded aliases up to this many UTF-8 bytes are sorted as fixed-width numpy keys.
_SORT_KEY_BYTES = 64
# Between folded aliases while building: folding turns any NUL in an alias into a space.
_SEPARATOR = "\0"
# Distinct inner punctuation forms checked per pattern (one byte each; 0 is none).
_MARK_FORMS = 256
_TYPE_INDEX = {name: index for index, name in enumerate(PROFILE_TYPES)}


class AliasTables(NamedTuple):
    """The automaton's patterns and the flat tables behind them, as EntityMatcher takes them."""

    patterns: str
    profile_ids: list[str]
    profile_types: array[int]
    priors: array[float]
    cues: list[str]
    entry_start: array[int]
    entry_profile: array[int]
    entry_kind: array[int]
    entry_caps: array[int]
    entry_tokens: array[int]
    lower_start: bytearray
    trailing_mark: bytearray
    inner_marks: bytearray
    mark_forms: list[str]


def build_tables(profiles: Iterable[MatchableProfile]) -> AliasTables:
    """Every profile's name, aliases and derived short forms, folded and tabulated.

    EntityMatcher.build calls it with the garbage collector off: the build allocates millions of
    objects that all survive, and collections would only traverse them again and again.
    """
    builder = _Builder()
    iterator = iter(profiles)
    while batch := list(islice(iterator, _PROFILE_BATCH)):
        builder.add(batch)
    return builder.finish()


class _Builder:
    """Collects every profile's aliases, then folds and tabulates them in bulk (numpy, C loops)."""

    def __init__(self) -> None:
        self.profile_ids: list[str] = []
        self.profile_types = bytearray()
        self.priors: list[float] = []
        self.cues: list[str] = []
        # Every profile's full aliases, then its short forms: counts per profile say which.
        self.aliases: list[str] = []
        self.full_counts: list[int] = []
        self.short_counts: list[int] = []

    def add(self, profiles: list[MatchableProfile]) -> None:
        """Collect a batch of profiles: one comprehension per field instead of a call each."""
        self.profile_ids += [p.id for p in profiles]
        self.profile_types += bytes([_TYPE_INDEX.get(p.type, 3) for p in profiles])
        self.priors += [math.nan if p.prior is None else p.prior for p in profiles]
        self.cues += [" ".join(p.cues) for p in profiles]
        shorts = [short_forms(p.name) if p.type == "person" else () for p in profiles]
        self.aliases += [
            alias
            for profile, short in zip(profiles, shorts, strict=True)
            for alias in ((profile.name, *profile.aliases, *short))
        ]
        self.full_counts += [1 + len(p.aliases) for p in profiles]
        self.short_counts += map(len, shorts)

    def finish(self) -> AliasTables:
        """Fold, classify, sort and group every collected alias."""
        aliases = self.aliases
        count = len(aliases)
        profile_count = len(self.full_counts)
        # Every folded alias, as UTF-8 between NUL bytes: numpy reads lengths, token counts and
        # sort keys from it without a Python call per alias.
        folded_bytes = _SEPARATOR.join(
            fold_aliases_joined(aliases[offset : offset + _FOLD_CHUNK])
            for offset in range(0, count, _FOLD_CHUNK)
        ).encode()
        folded = np.frombuffer(folded_bytes, dtype=np.uint8)
        separators = np.flatnonzero(folded == 0)
        starts = np.concatenate(([0], separators + 1)) if count else separators
        ends = np.concatenate((separators, [len(folded)])) if count else separators
        space_at = np.flatnonzero(folded == ord(" "))
        spaces = np.searchsorted(space_at, ends) - np.searchsorted(space_at, starts)
        del folded, space_at, separators
        full_counts = np.array(self.full_counts, dtype=np.int64)
        short_counts = np.array(self.short_counts, dtype=np.int64)
        profile_of = np.repeat(np.arange(profile_count, dtype=np.int32), full_counts + short_counts)
        kind_of = np.repeat(
            np.tile(np.array([KIND_FULL, KIND_SHORT], dtype=np.uint8), profile_count),
            np.column_stack((full_counts, short_counts)).ravel(),
        )
        # Acronyms are all-caps full aliases: only those few are checked one by one.
        upper = np.fromiter(map(str.isupper, aliases), dtype=bool, count=count)
        for index in np.flatnonzero(upper & (kind_of == KIND_FULL)).tolist():
            if is_acronym(aliases[index]):
                kind_of[index] = KIND_ACRONYM
        tokens = np.minimum(spaces + 1, 255).astype(np.uint8)
        # A title-case alias of n tokens needs all n capitalised; others are read token by token.
        title = np.fromiter(map(str.istitle, aliases), dtype=bool, count=count)
        caps = np.where(title, (1 << np.minimum(spaces + 1, 31)) - 1, 0).astype(np.uint32)
        not_title = np.flatnonzero(~title)
        caps[not_title] = [caps_mask(aliases[index]) for index in not_title.tolist()]
        lower = ((caps & 1) == 0) & (kind_of != KIND_ACRONYM)
        keys = folded_bytes.split(_SEPARATOR.encode()) if count else []
        del folded_bytes
        lengths = ends - starts
        twins, twin_forms, mark_forms, marks = _text_forms(aliases, keys)
        self.aliases = []
        if twins:
            twin = np.array(twins, dtype=np.int64)
            lengths = np.concatenate((lengths, [len(key) for key in keys[count:]]))
            every = np.concatenate((np.arange(count), twin))
            profile_of, kind_of, caps = profile_of[every], kind_of[every], caps[every]
            tokens, lower, marks = tokens[every], lower[every], marks[every]
        forms = np.zeros(len(lengths), dtype=np.uint8)
        forms[count:] = np.frombuffer(twin_forms, dtype=np.uint8)

        kept = np.flatnonzero(lengths)
        patterns, pattern_count, pattern_of = _sorted_patterns(keys, kept, lengths)
        del keys
        profile_of, kind_of, caps = profile_of[kept], kind_of[kept], caps[kept]
        tokens, lower, marks, forms = tokens[kept], lower[kept], marks[kept], forms[kept]
        # Per pattern, the mark an alias behind it ends with: its mentions keep that mark.
        trailing_mark = _per_pattern(marks, pattern_of, pattern_count)
        inner_marks = _per_pattern(forms, pattern_of, pattern_count)
        # Group the entries by pattern, the latest first: one sort of keys that are all distinct.
        added = len(kept)
        order = np.argsort(pattern_of * added + (added - 1 - np.arange(added)))
        # Drop an entry that repeats the one added before it at its pattern: the same alias in
        # another spelling ("Kari-Moto", "Kari Moto").
        repeats = np.zeros(len(order), dtype=bool)
        repeats[:-1] = (
            (pattern_of[order][:-1] == pattern_of[order][1:])
            & (profile_of[order][:-1] == profile_of[order][1:])
            & (kind_of[order][:-1] == kind_of[order][1:])
            & (caps[order][:-1] == caps[order][1:])
        )
        order = order[~repeats]
        pattern_of = pattern_of[order]
        entry_start = np.zeros(pattern_count + 1, dtype=np.int32)
        np.cumsum(np.bincount(pattern_of, minlength=pattern_count), out=entry_start[1:])
        lower_start = np.zeros(pattern_count, dtype=np.uint8)
        lower_start[pattern_of[lower[order]]] = 1
        if not pattern_count:
            # The automaton needs one pattern; this one can never match folded text.
            patterns = "\0"
            entry_start = np.zeros(2, dtype=np.int32)
            lower_start = np.zeros(1, dtype=np.uint8)
        return AliasTables(
            patterns=patterns,
            profile_ids=self.profile_ids,
            profile_types=array("B", self.profile_types),
            priors=array("f", np.array(self.priors, dtype=np.float32).tobytes()),
            cues=self.cues,
            entry_start=array("i", entry_start.tobytes()),
            entry_profile=array("i", profile_of[order].astype(np.int32).tobytes()),
            entry_kind=array("B", kind_of[order].tobytes()),
            entry_caps=array("I", caps[order].tobytes()),
            entry_tokens=array("B", tokens[order].tobytes()),
            lower_start=bytearray(lower_start.tobytes()),
            trailing_mark=bytearray(trailing_mark.tobytes()),
            inner_marks=bytearray(inner_marks.tobytes()),
            mark_forms=mark_forms,
        )


def _per_pattern(
    values: npt.NDArray[np.uint8], pattern_of: npt.NDArray[np.int64], pattern_count: int
) -> npt.NDArray[np.uint8]:
    """Per pattern, the non-zero value of an entry at it, else 0 (one slot when none)."""
    table = np.zeros(max(pattern_count, 1), dtype=np.uint8)
    marked = np.flatnonzero(values)
    table[pattern_of[marked]] = values[marked]
    return table


def _text_forms(
    aliases: list[str], keys: list[bytes]
) -> tuple[list[int], bytes, list[str], npt.NDArray[np.uint8]]:
    """Append the text-fold forms of punctuated aliases to keys; return what they need.

    Aliases written with punctuation and a space ("St. Louis") also get the form the text fold
    gives them ("st  louis"), as an entry like the alias's own. Folding blanks the marks, so each
    such form keeps which marks its alias has inside (an index in the returned list of forms):
    the text must have the same ones ("Goldman, Sachs" is not "Goldman. Sachs"). Also returned:
    each alias's final mark ("U.S."), which its mentions keep, else 0.
    """
    count = len(aliases)
    marks = np.zeros(count, dtype=np.uint8)
    twins: list[int] = []
    mark_forms = [""]
    form_index = {"": 0}
    twin_forms = bytearray()
    for offset in range(0, count, _FOLD_CHUNK):
        chunk = aliases[offset : offset + _FOLD_CHUNK]
        for index, as_text, marks_inside in aliases_folded_as_text(chunk):
            twins.append(offset + index)
            keys.append(as_text.encode())
            form = form_index.get(marks_inside)
            if form is None and len(mark_forms) < _MARK_FORMS:
                form = form_index[marks_inside] = len(mark_forms)
                mark_forms.append(marks_inside)
            twin_forms.append(form or 0)  # past _MARK_FORMS forms: unchecked
        for index, mark in trailing_marks(chunk):
            marks[offset + index] = ord(mark)
    return twins, bytes(twin_forms), mark_forms, marks


def _sorted_patterns(
    keys: list[bytes], kept: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> tuple[str, int, npt.NDArray[np.int64]]:
    """The distinct kept keys, sorted, as automaton patterns, and each kept key's index there.

    The patterns come padded with a space each side (" xi jinping ") and joined by newlines.
    Sorted patterns build the automaton in half the time of patterns in store order. numpy sorts
    them as fixed-width keys in contiguous memory, several times faster than sorted(set()) and a
    dict; the rare ones too long for that width are sorted apart and numbered after the others.
    """
    narrow = kept[lengths[kept] <= _SORT_KEY_BYTES]
    wide = kept[lengths[kept] > _SORT_KEY_BYTES]
    wide_keys = [keys[index] for index in wide.tolist()]
    if wide_keys:
        keys = keys.copy()
        for index in wide.tolist():
            keys[index] = b""  # keeps the fixed width of the others small
    narrow_keys = np.array(keys, dtype=bytes)[narrow]
    width = narrow_keys.dtype.itemsize
    order = narrow_keys.argsort()
    rows = narrow_keys[order].view(np.uint8).reshape(len(narrow_keys), width)
    del narrow_keys
    starts_run = np.ones(len(rows), dtype=bool)
    starts_run[1:] = (rows[1:] != rows[:-1]).any(axis=1)
    rank = np.cumsum(starts_run) - 1
    distinct = rows[starts_run]
    del rows
    # Each distinct key as a line " key \n", built in one array and read as one string.
    lines = np.zeros((len(distinct), width + 3), dtype=np.uint8)
    lines[:, 0] = ord(" ")
    lines[:, 1 : width + 1] = distinct
    lines[np.arange(len(distinct)), np.count_nonzero(distinct, axis=1) + 1] = ord(" ")
    lines[:, width + 2] = ord("\n")
    flat = lines.ravel()
    padded = [flat[flat != 0].tobytes().decode()]
    index_of = np.zeros(len(keys), dtype=np.int64)
    index_of[narrow[order]] = rank
    wide_distinct = sorted(set(wide_keys))
    number = {key: len(distinct) + offset for offset, key in enumerate(wide_distinct)}
    index_of[wide] = [number[key] for key in wide_keys]
    padded.extend(f" {key.decode()} \n" for key in wide_distinct)
    return "".join(padded)[:-1], len(distinct) + len(wide_distinct), index_of[kept]


def release_freed_memory() -> None:
    """Give the heap that building freed back to the system, where the C library allows it.

    glibc keeps freed heap pages of a build (a few hundred MB at a million aliases) in the
    process; prefork children would inherit them in the parent's resident set.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return  # not glibc
    trim(0)


def full_name_profiles(
    entry_start: array[int],
    entry_profile: array[int],
    entry_kind: array[int],
    entry_tokens: array[int],
) -> array[int]:
    """Per pattern, the profile of its only entry when that is a multi-word full name, else -1."""
    starts = np.frombuffer(entry_start, dtype=np.int32)
    first = starts[:-1]
    single = np.flatnonzero(np.diff(starts) == 1)
    entry = first[single]
    full = (np.frombuffer(entry_kind, dtype=np.uint8)[entry] == KIND_FULL) & (
        np.frombuffer(entry_tokens, dtype=np.uint8)[entry] > 1
    )
    profiles = np.full(len(first), -1, dtype=np.int32)
    profiles[single[full]] = np.frombuffer(entry_profile, dtype=np.int32)[entry[full]]
    return array("i", profiles.tobytes())
