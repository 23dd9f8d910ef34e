"""Profile import, the pure part: validate a raw profile, clean its summary, hash its version."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from newsworker.stages.enrich.aliases import MatchableProfile
from newsworker.stages.enrich.folding import fold_text
from newsworker.stages.records import ProfileSnapshot, ProfileSource

PROFILE_TYPES = frozenset({"person", "organization", "place", "other"})
_MARKER = re.compile(r"\[(\d{1,4})\]")
_MARKER_WITH_SPACE = re.compile(r"\s*\[(\d{1,4})\]")
# A sentence ends at . ! ? (optionally closed by a quote or bracket, then citation markers).
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(?:\[\d{1,4}\])*(?=\s|$)")
_ABBREVIATION = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|vs|Inc|Ltd|Co|Corp|U\.S)\.$")
_CUE_STOPWORDS = frozenset(
    """the and for from with that this was were has have had been being who which whose born
    since into also its his her their than then when where while over under after before
    between about known best became become serving served most more one two first""".split()  # noqa: SIM905
)
MAX_CUES = 16
# Characters of a summary's opening that cue words come from; the store reads no more than this.
CUE_SUMMARY_CHARS = 300


@dataclass(frozen=True, slots=True)
class ProfilePolicy:
    """Profile import policy; tasks/runtime.profile_policy maps settings onto it."""

    summary_max_chars: int = 1200


@dataclass(frozen=True, slots=True)
class ProfileInput:
    """A validated profile, ready to upsert."""

    id: str
    type: str
    name: str
    aliases: tuple[str, ...]
    summary: str
    sources: tuple[ProfileSource, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    prior: float | None = None
    version: str = ""

    def to_row(self) -> dict[str, Any]:
        """The profile in the import format: the store's columns, the keys export writes."""
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "facts": dict(self.facts),
            "sources": [source_to_dict(s) for s in self.sources],
            "prior": self.prior,
            "version": self.version,
        }

    def snapshot(self, updated_at: datetime) -> ProfileSnapshot:
        """The profile as a story attaches it, as of updated_at."""
        return ProfileSnapshot(
            id=self.id,
            type=self.type,
            name=self.name,
            summary=self.summary,
            sources=self.sources,
            version=self.version,
            updated_at=updated_at,
        )


def source_to_dict(source: ProfileSource) -> dict[str, Any]:
    """A source as a JSON-ready dict."""
    return {
        "title": source.title,
        "url": source.url,
        "retrieved_at": source.retrieved_at,
        "licence": source.licence,
    }


def _text_field(raw: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = raw.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"field {name!r} must be a non-empty string")
    return " ".join(value.split())


def _aliases(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("aliases") or []
    if isinstance(value, str):
        value = value.split("|")
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise ValueError("field 'aliases' must be a list of strings")
    cleaned = (" ".join(a.split()) for a in value)
    return tuple(dict.fromkeys(a for a in cleaned if a))


def _decoded(raw: Mapping[str, Any], name: str, default: Any) -> Any:
    """The field's value; a string (as CSV carries it) is decoded as JSON."""
    value = raw.get(name) or default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"field '{name}' is not valid JSON: {e.msg}") from e
    return value


def _sources(raw: Mapping[str, Any]) -> tuple[ProfileSource, ...]:
    value = _decoded(raw, "sources", [])
    if not isinstance(value, list):
        raise ValueError("field 'sources' must be a list")
    sources = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            raise ValueError(f"field 'sources[{number}]' must be an object")
        title, url = item.get("title"), item.get("url")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"field 'sources[{number}].title' must be a non-empty string")
        if not isinstance(url, str) or not re.match(r"https?://\S+$", url.strip()):
            raise ValueError(f"field 'sources[{number}].url' must be an http(s) URL")
        retrieved = item.get("retrieved_at")
        licence = item.get("licence", item.get("license"))
        for key, extra in (("retrieved_at", retrieved), ("licence", licence)):
            if extra is not None and not isinstance(extra, str):
                raise ValueError(f"field 'sources[{number}].{key}' must be a string")
        sources.append(ProfileSource(title.strip(), url.strip(), retrieved, licence))
    return tuple(sources)


def _prior(raw: Mapping[str, Any]) -> float | None:
    value = raw.get("prior")
    if value is None or value == "":
        return None
    try:
        prior = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError("field 'prior' must be a number between 0 and 1") from e
    if not 0.0 <= prior <= 1.0:
        raise ValueError("field 'prior' must be a number between 0 and 1")
    return prior


def _facts(raw: Mapping[str, Any]) -> dict[str, Any]:
    value = _decoded(raw, "facts", {})
    if not isinstance(value, dict):
        raise ValueError("field 'facts' must be an object")
    return value


def normalize_profile(raw: Mapping[str, Any], *, policy: ProfilePolicy) -> ProfileInput:
    """Validate one raw profile; raise ValueError naming the field that is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError("a profile must be a JSON object")
    profile_id = _text_field(raw, "id")
    kind = _text_field(raw, "type").lower()
    if kind not in PROFILE_TYPES:
        raise ValueError(f"field 'type' must be one of {sorted(PROFILE_TYPES)}, not {kind!r}")
    name = _text_field(raw, "name")
    sources = _sources(raw)
    summary = clean_summary(
        _text_field(raw, "summary", required=False),
        source_count=len(sources),
        max_chars=policy.summary_max_chars,
    )
    profile = ProfileInput(
        id=profile_id,
        type=kind,
        name=name,
        aliases=tuple(a for a in _aliases(raw) if a != name),
        summary=summary,
        sources=sources,
        facts=_facts(raw),
        prior=_prior(raw),
    )
    return _with_version(profile)


def _with_version(profile: ProfileInput) -> ProfileInput:
    content = profile.to_row()
    del content["version"]
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    return replace(profile, version=digest[:20])


def resolve_citation_markers(summary: str, *, source_count: int) -> str:
    """Keep [n] markers that point into the sources (1-based); remove the others."""

    def keep_or_drop(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return match.group(0) if 1 <= number <= source_count else ""

    return _MARKER_WITH_SPACE.sub(keep_or_drop, summary)


def _sentence_ends(text: str) -> Iterator[int]:
    for match in _SENTENCE_END.finditer(text):
        if not _ABBREVIATION.search(text[max(0, match.start() - 4) : match.start() + 1]):
            yield match.end()


def shorten_summary(summary: str, *, max_chars: int) -> str:
    """Shorten to at most max_chars at a sentence end; else at a word end with an ellipsis.

    A trailing fragment without an end mark ("The ongoing APEC Putra") is dropped too, when a
    complete sentence precedes it: it is a cut made upstream.
    """
    text = summary.strip()
    ends = [end for end in _sentence_ends(text) if end <= max_chars]
    if len(text) <= max_chars and (not ends or ends[-1] == len(text)):
        return text
    if ends:
        return text[: ends[-1]].strip()
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = cut.rfind(" ")
    if space > 0:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def clean_summary(summary: str, *, source_count: int, max_chars: int) -> str:
    """Resolve citation markers, then shorten at a sentence boundary."""
    return shorten_summary(
        resolve_citation_markers(summary, source_count=source_count), max_chars=max_chars
    )


def profile_cues(name: str, aliases: Iterable[str], summary: str) -> tuple[str, ...]:
    """Folded cue words (office, nationality, place) from the summary's opening and aliases."""
    own = set(fold_text(name)[0].split())
    words: list[str] = []
    for alias in aliases:
        words.extend(w for w in fold_text(alias)[0].split() if w not in own)
    opening = _MARKER.sub("", summary[:CUE_SUMMARY_CHARS])
    words.extend(fold_text(opening)[0].split())
    cues = [
        w
        for w in dict.fromkeys(words)
        if len(w) >= 3 and not w.isdigit() and w not in own and w not in _CUE_STOPWORDS
    ]
    return tuple(cues[:MAX_CUES])


def matchable_from_input(profile: ProfileInput) -> MatchableProfile:
    """The matcher's view of a validated profile."""
    return MatchableProfile(
        id=profile.id,
        type=profile.type,
        name=profile.name,
        aliases=profile.aliases,
        prior=profile.prior,
        cues=profile_cues(profile.name, profile.aliases, profile.summary),
    )


def read_profile_lines(
    lines: Iterable[str], *, fmt: str
) -> Iterator[tuple[int, Mapping[str, Any] | None, str | None]]:
    """Yield (line_number, raw profile, None) or (line_number, None, reason) per record."""
    if fmt == "jsonl":
        yield from _read_jsonl(lines)
    elif fmt == "csv":
        yield from _read_csv(lines)
    else:
        raise ValueError(f"unknown profile format {fmt!r}: use jsonl or csv")


def _read_jsonl(
    lines: Iterable[str],
) -> Iterator[tuple[int, Mapping[str, Any] | None, str | None]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            yield number, None, f"invalid JSON: {e.msg}"
            continue
        if not isinstance(raw, dict):
            yield number, None, "a profile must be a JSON object"
            continue
        yield number, raw, None


def _read_csv(lines: Iterable[str]) -> Iterator[tuple[int, Mapping[str, Any] | None, str | None]]:
    reader = csv.DictReader(iter(lines))
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        yield reader.line_num, {k: v for k, v in row.items() if k is not None}, None
