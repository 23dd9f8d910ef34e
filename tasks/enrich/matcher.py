"""The alias automaton: one Aho-Corasick automaton over every folded alias of the store."""

from __future__ import annotations

import gc
import math
import pickle
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from operator import add
from pathlib import Path
from typing import NamedTuple

import ahocorasick_rs

from tasks.enrich.folding import fold_aliases, fold_text
from tasks.enrich.policy import EnrichPolicy
from tasks.records import EntityMatch

KIND_FULL = 0  # the profile name or an explicit alias
KIND_ACRONYM = 1  # an all-caps alias such as APEC or G20: matches only in upper case
KIND_SHORT = 2  # a surname or given name derived from a person's name

PROFILE_TYPES = ("person", "organization", "place", "other")
_TOKEN = re.compile(r"[^\W_]+")
_FORMAT_VERSION = 1
# The capitalisation mask of a title-case alias of n tokens: every token capitalised.
_TYPE_INDEX = {name: index for index, name in enumerate(PROFILE_TYPES)}
_TITLE_MASKS = tuple((1 << n) - 1 for n in range(32))
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
    tokens = [t for t in name.replace(",", " ").split() if t.strip(".")]
    if len(tokens) < 2:
        return ()
    forms = []
    for token in (tokens[0], tokens[-1]):
        if token.lower().strip(".") in _NAME_PARTICLES or len(token.strip(".")) < 2:
            continue
        if token.endswith(".") or not token[0].isupper():
            continue
        forms.append(token)
    return tuple(dict.fromkeys(forms))


class EntityMatcher:
    """Find and resolve mentions of stored profiles in an article's plain text."""

    def __init__(
        self,
        *,
        patterns: list[str],
        profile_ids: list[str],
        profile_types: array[int],
        priors: array[float],
        cues: list[str],
        entry_head: array[int],
        entry_next: array[int],
        entry_profile: array[int],
        entry_kind: array[int],
        entry_caps: array[int],
        entry_tokens: array[int],
        lower_start: bytearray | None = None,
        policy: EnrichPolicy | None = None,
    ) -> None:
        self._automaton = ahocorasick_rs.AhoCorasick(
            patterns,
            store_patterns=False,
            implementation=ahocorasick_rs.Implementation.ContiguousNFA,
        )
        # One string instead of a million small objects: forked children never touch it.
        self._pattern_blob = "\n".join(patterns)
        self._pattern_count = len(patterns)
        self.profile_ids = profile_ids
        self.profile_types = profile_types
        self.priors = priors
        self.cues = cues
        self._entry_head = entry_head
        self._entry_next = entry_next
        self._entry_profile = entry_profile
        self._entry_kind = entry_kind
        self._entry_caps = entry_caps
        self._entry_tokens = entry_tokens
        # Patterns with an alias whose first word is lower case ("de Gaulle", "eBay").
        self._lower_start = lower_start if lower_start is not None else bytearray(len(patterns))
        self.policy = policy or EnrichPolicy()

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
            for profile in profiles:
                builder.add(profile)
            return builder.finish(policy)
        finally:
            if collecting:
                gc.enable()

    def save(self, path: str | Path) -> None:
        """Persist the folded patterns and tables, so a later load skips folding."""
        state = {
            "format": _FORMAT_VERSION,
            "patterns": self._pattern_blob.split("\n"),
            "profile_ids": self.profile_ids,
            "profile_types": self.profile_types,
            "priors": self.priors,
            "cues": self.cues,
            "entry_head": self._entry_head,
            "entry_next": self._entry_next,
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
        return cls(**state, policy=policy)

    def raw_spans(self, text: str) -> list[tuple[int, int, int, int, int]]:
        """Every alias occurrence at word boundaries, overlapping, longest first.

        Each is (-folded_length, folded_start, pattern, start, end); start and end index text.
        """
        folded, offsets = fold_text(text)
        found = self._automaton.find_matches_as_indexes(f" {folded} ", overlapping=True)
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
        entry = self._entry_head[pattern]
        if self._entry_next[entry] < 0:  # the common case: one alias behind the pattern
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
        while entry >= 0:
            fitting.extend(self._entry_if_fits(entry, span_upper, tokens))
            entry = self._entry_next[entry]
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


def _capitalised_as(tokens: list[str], mask: int, count: int) -> bool:
    if len(tokens) != count:
        # Folding changed the token count (rare scripts): fall back to the first letter.
        return bool(tokens) and tokens[0][0].isupper()
    for index, token in enumerate(tokens[:31]):
        if mask >> index & 1 and not (token[0].isupper() or token[0].isdigit()):
            return False
    return True


class _Builder:
    """Accumulates aliases, then folds them in bulk and fills compact entry tables."""

    def __init__(self) -> None:
        self.profile_ids: list[str] = []
        self.profile_types = array("B")
        self.priors = array("f")
        self.cues: list[str] = []
        # Every profile's full aliases, then its short forms: counts per profile say which.
        self.aliases: list[str] = []
        self.full_counts: list[int] = []
        self.short_counts: list[int] = []

    def add(self, profile: MatchableProfile) -> None:
        self.profile_ids.append(profile.id)
        self.profile_types.append(_TYPE_INDEX.get(profile.type, 3))
        self.priors.append(math.nan if profile.prior is None else profile.prior)
        self.cues.append(" ".join(profile.cues))
        aliases = self.aliases
        aliases.append(profile.name)
        aliases.extend(profile.aliases)
        self.full_counts.append(1 + len(profile.aliases))
        if profile.type == "person":
            forms = short_forms(profile.name)
            aliases.extend(forms)
            self.short_counts.append(len(forms))
        else:
            self.short_counts.append(0)

    def alias_rows(self) -> Iterator[tuple[str, str, int, int, int, bool]]:
        """(alias, folded, profile, kind, token count, title case) per alias, folded in chunks."""
        profile_of = chain.from_iterable(
            map(repeat, range(len(self.full_counts)), map(add, self.full_counts, self.short_counts))
        )
        kind_of = chain.from_iterable(
            chain(repeat(KIND_FULL, full), repeat(KIND_SHORT, short))
            for full, short in zip(self.full_counts, self.short_counts, strict=True)
        )
        chunk = 50_000
        for offset in range(0, len(self.aliases), chunk):
            originals = self.aliases[offset : offset + chunk]
            folded = fold_aliases(originals)
            # C-level passes over the chunk instead of a call per alias in the loop below.
            spaces = map(str.count, folded, repeat(" "))
            titles = map(str.istitle, originals)
            # Not strict: profile_of and kind_of run on over the later chunks.
            yield from zip(originals, folded, profile_of, kind_of, spaces, titles, strict=False)

    def finish(self, policy: EnrichPolicy | None) -> EntityMatcher:
        # This loop runs a million times: every lookup and call in it counts.
        pattern_index: dict[str, int] = {}
        patterns: list[str] = []
        head, after = array("i"), array("i")
        lower_start = bytearray()
        profile_of, kind_of, caps_of, tokens_of = array("i"), array("B"), array("I"), array("B")
        add_pattern, find_pattern = patterns.append, pattern_index.get
        add_after, add_profile, add_kind = after.append, profile_of.append, kind_of.append
        add_caps, add_tokens = caps_of.append, tokens_of.append
        add_head, add_lower_start = head.append, lower_start.append
        title_masks = _TITLE_MASKS
        for alias, folded, profile, alias_kind, spaces, title in self.alias_rows():
            if not folded:
                continue
            kind = alias_kind
            if kind == KIND_FULL and alias.isupper() and is_acronym(alias):
                kind = KIND_ACRONYM
            if title:
                caps = title_masks[spaces + 1] if spaces < 31 else title_masks[31]
                lower = False
            else:
                caps = caps_mask(alias)
                lower = not caps & 1 and kind != KIND_ACRONYM
            pattern = find_pattern(folded)
            if pattern is None:
                pattern = pattern_index[folded] = len(patterns)
                add_pattern(folded)
                add_head(-1)
                add_lower_start(0)
            else:
                last = head[pattern]
                # The same alias in another spelling ("Kari-Moto" folds like "Kari Moto"):
                # an identical entry would only make every match take the slow path.
                if profile_of[last] == profile and kind_of[last] == kind and caps_of[last] == caps:
                    continue
            if lower:
                lower_start[pattern] = 1
            add_after(head[pattern])
            head[pattern] = len(profile_of)
            add_profile(profile)
            add_kind(kind)
            add_caps(caps)
            add_tokens(spaces + 1 if spaces < 254 else 255)
        del pattern_index
        self.aliases.clear()
        # Pad every pattern with a space each side in one C pass: " xi jinping ".
        patterns = (" " + " \n ".join(patterns) + " ").split("\n") if patterns else []
        if not patterns:
            # The automaton needs one pattern; this one can never match folded text.
            patterns.append("\0")
            head.append(-1)
            lower_start.append(0)
        return EntityMatcher(
            patterns=patterns,
            profile_ids=self.profile_ids,
            profile_types=self.profile_types,
            priors=self.priors,
            cues=self.cues,
            entry_head=head,
            entry_next=after,
            entry_profile=profile_of,
            entry_kind=kind_of,
            entry_caps=caps_of,
            entry_tokens=tokens_of,
            lower_start=lower_start,
            policy=policy,
        )


# Imported last: resolution needs this module's records, the matcher needs its rules.
from tasks.enrich.resolution import resolve as _resolve  # noqa: E402
