"""The alias automaton: one Aho-Corasick automaton over every folded alias of the store."""

from __future__ import annotations

import ctypes
import gc
import math
import pickle
import re
import uuid
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import ahocorasick_rs
import numpy as np
import numpy.typing as npt

from newsworker.stages.enrich.folding import fold_aliases_joined, fold_ascii, fold_beyond_ascii
from newsworker.stages.enrich.policy import EnrichPolicy
from newsworker.stages.records import EntityMatch

KIND_FULL = 0  # the profile name or an explicit alias
KIND_ACRONYM = 1  # an all-caps alias such as APEC or G20: matches only in upper case
KIND_SHORT = 2  # a surname or given name derived from a person's name

PROFILE_TYPES = ("person", "organization", "place", "other")
_TOKEN = re.compile(r"[^\W_]+")
_FORMAT_VERSION = 2
# Profiles collected per batch, and aliases folded per call, while building.
_PROFILE_BATCH = 20_000
_FOLD_CHUNK = 50_000
# Folded aliases up to this many UTF-8 bytes are sorted as fixed-width numpy keys.
_SORT_KEY_BYTES = 64
# Between folded aliases while building: folding turns any NUL in an alias into a space.
_SEPARATOR = "\0"
_TYPE_INDEX = {name: index for index, name in enumerate(PROFILE_TYPES)}
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


# tuple.__new__(Record, values) builds a NamedTuple without its Python-level __new__: per mention.
_new_tuple = tuple.__new__


class Candidate(NamedTuple):
    """A span of the text with the aliases that fit it, after the case rules."""

    start: int
    end: int
    folded_start: int
    folded_end: int
    entries: tuple[AliasEntry, ...]
    pattern: int = -1


def is_acronym(alias: str) -> bool:
    """True for all-caps aliases like APEC, WHO, G20: they match only in upper case."""
    return len(alias) >= 2 and alias.isalnum() and alias.isupper()


def caps_mask(alias: str) -> int:
    """A bit per alias token that starts with a capital: the text must capitalise it too."""
    mask = 0
    for index, token in enumerate(_TOKEN.findall(alias)[:31]):
        if token[0].isupper() or token[0].isdigit():
            mask |= 1 << index
    return mask


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
        # Per pattern: the profile when its only entry is a full name of several words (the
        # common case, which resolution attaches at once), else -1.
        self.full_name_profile = _full_name_profiles(
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
            builder = _Builder()
            iterator = iter(profiles)
            while batch := list(islice(iterator, _PROFILE_BATCH)):
                builder.add(batch)
            matcher = builder.finish(policy)
        finally:
            if collecting:
                gc.enable()
        del builder
        _release_freed_memory()
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
        _release_freed_memory()
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

    def candidates(self, text: str) -> list[Candidate]:
        """Every alias occurrence that passes the case rules, overlapping (for inspection)."""
        result = []
        for negative_length, folded_start, pattern, start, end in self.raw_spans(text):
            folded_end = folded_start - negative_length
            entries = self.entries_fitting(pattern, text[start:end])
            if entries:
                result.append(Candidate(start, end, folded_start, folded_end, entries, pattern))
        return result

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
                fits = _capitalised_as(_TOKEN.findall(span), self._entry_caps[entry], count)
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
        tokens = None if span_upper or span.istitle() else _TOKEN.findall(span)
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
            ok = tokens is None or _capitalised_as(tokens, caps, count)
        return (AliasEntry(self._entry_profile[entry], kind, caps, count),) if ok else ()

    def match(self, text: str, *, policy: EnrichPolicy | None = None) -> list[EntityMatch]:
        """The profiles the text mentions, with confidence and mentions, in first-mention order."""
        return _resolve(text, self, policy or self.policy)

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


def _capitalised_as(tokens: list[str], mask: int, count: int) -> bool:
    if len(tokens) != count:
        # Folding changed the token count (rare scripts): fall back to the first letter.
        return bool(tokens) and tokens[0][0].isupper()
    for index, token in enumerate(tokens[:31]):
        if mask >> index & 1 and not (token[0].isupper() or token[0].isdigit()):
            return False
    return True


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

    def finish(self, policy: EnrichPolicy | None) -> EntityMatcher:
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
        self.aliases = []

        lengths = ends - starts
        kept = np.flatnonzero(lengths)
        patterns, pattern_count, pattern_of = _sorted_patterns(
            folded_bytes.split(_SEPARATOR.encode()) if count else [], kept, lengths
        )
        del folded_bytes
        profile_of, kind_of, caps = profile_of[kept], kind_of[kept], caps[kept]
        tokens, lower = tokens[kept], lower[kept]
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
        return EntityMatcher(
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
            policy=policy,
        )


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


def _release_freed_memory() -> None:
    """Give the heap that building freed back to the system, where the C library allows it.

    glibc keeps freed heap pages of a build (a few hundred MB at a million aliases) in the
    process; prefork children would inherit them in the parent's resident set.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return  # not glibc
    trim(0)


def _full_name_profiles(
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


# Imported last: resolution needs this module's records, the matcher needs its rules.
from newsworker.stages.enrich.resolution import resolve as _resolve  # noqa: E402
