"""Why each candidate mention was attached or refused: resolution, recorded step by step.

Only `newsworker enrich --explain` runs this; matching runs the plain resolver, whose recording
hooks do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from newsworker.stages.enrich.aliases import (
    KIND_ACRONYM,
    KIND_FULL,
    AliasEntry,
    Candidate,
    SpanSource,
)
from newsworker.stages.enrich.context import inside_longer_name
from newsworker.stages.enrich.folding import inner_punctuation
from newsworker.stages.enrich.policy import EnrichPolicy
from newsworker.stages.enrich.resolution import _Resolver
from newsworker.stages.records import EntityMatch

_KIND_NAMES = {KIND_FULL: "name or alias", KIND_ACRONYM: "acronym"}


@dataclass(slots=True)
class MentionNote:
    """One candidate mention: what could be meant, the evidence, and the decision."""

    start: int
    end: int
    text: str
    candidates: list[dict[str, str]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    profile_id: str | None = None
    confidence: float | None = None
    reasons: list[str] = field(default_factory=list)
    refused: bool = False

    def as_json(self) -> dict[str, Any]:
        """The note as plain JSON: offsets index the story's article text."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "candidates": self.candidates,
            "scores": self.scores,
            "decision": "attached" if self.profile_id and not self.refused else "refused",
            "profile_id": self.profile_id,
            "confidence": self.confidence,
            "reason": "; ".join(self.reasons),
        }


@dataclass(slots=True)
class Explanation:
    """Every candidate mention of one text, in text order."""

    notes: list[MentionNote]

    def as_json(self) -> list[dict[str, Any]]:
        """One JSON object per candidate mention."""
        return [note.as_json() for note in self.notes]


class _ExplainingResolver(_Resolver):
    """The resolver, noting each decision it makes and why."""

    def __init__(self, text: str, matcher: SpanSource, policy: EnrichPolicy) -> None:
        super().__init__(text, matcher, policy)
        self.notes: dict[tuple[int, int], MentionNote] = {}
        self.stage = ""

    def note(self, start: int, end: int) -> MentionNote:
        """The note of the span, made on first use."""
        found = self.notes.get((start, end))
        if found is None:
            found = self.notes[start, end] = MentionNote(start, end, self.text[start:end])
        return found

    def consider(self, start: int, end: int, entries: tuple[AliasEntry, ...]) -> None:
        """Note the profiles an alias at the span could mean."""
        note = self.note(start, end)
        for entry in entries:
            kind = _KIND_NAMES.get(entry.kind, "short form of a person's name")
            note.candidates.append(
                {"profile_id": self.matcher.profile_ids[entry.profile], "alias": kind}
            )

    def attach_span(self, profile: int, start: int, end: int, confidence: float) -> None:
        """Attach as the resolver does, noting by which rule."""
        super().attach_span(profile, start, end, confidence)
        note = self.note(start, end)
        note.profile_id, note.confidence = self.matcher.profile_ids[profile], confidence
        note.reasons.append(self.stage)

    def refuse(self, candidate: Candidate, reason: str) -> None:
        """Note why nothing attaches at the candidate."""
        self.note(candidate.start, candidate.end).reasons.append(reason)

    def scored(self, candidate: Candidate, scores: list[tuple[float, int]]) -> None:
        """Note each fitting profile's score (cue words, title, prior)."""
        ids = self.matcher.profile_ids
        self.note(candidate.start, candidate.end).scores = {
            ids[profile]: round(score, 3) for score, profile in scores
        }

    def coreference(self, candidate: Candidate, anchored: list[int]) -> None:
        """Coreference, noted as such."""
        self.stage = "a short form of a full name the text gives"
        super().coreference(candidate, anchored)

    def short_without_anchor(self, candidate: Candidate, profiles: list[int]) -> None:
        """A short form with no full mention, noted as such."""
        self.stage = "a distinctive short form of one stored name"
        super().short_without_anchor(candidate, profiles)

    def ambiguous(self, candidate: Candidate, profiles: list[int]) -> None:
        """Several fitting profiles, noted with their scores."""
        stage, self.stage = self.stage, "cue words, title and prior chose among several profiles"
        super().ambiguous(candidate, profiles)
        self.stage = stage

    def refused_at_selection(self, raw: list[tuple[int, int, int, int, int]]) -> None:
        """Note why select() passed over each span it did not take."""
        text = self.text
        matcher = self.matcher
        taken = sorted((start, end) for start, end in self.notes)
        for _length, _folded, pattern, start, end in raw:
            if (start, end) in self.notes or any(
                s < end and start < e for s, e in taken if (s, e) != (start, end)
            ):
                continue  # taken, or part of a longer span: the longer one is explained
            span = text[start:end]
            note = self.note(start, end)
            self.consider(start, end, matcher.entries_fitting(pattern, span.upper()))
            form = matcher.inner_marks[pattern]
            if form and inner_punctuation(span) != matcher.mark_forms[form]:
                note.reasons.append("the text has other punctuation inside than the alias")
            elif not matcher.entries_fitting(pattern, span):
                note.reasons.append("its capitalisation fits no alias (a common word)")
            elif inside_longer_name(text, start, end):
                note.reasons.append("only part of a longer capitalised name")
            else:
                note.reasons.append("not taken")

    def finish(self) -> Explanation:
        """Mark attachments below the policy's confidence as refused; notes in text order."""
        threshold = self.policy.min_confidence
        for note in self.notes.values():
            if note.profile_id is None and not note.reasons:
                note.reasons.append("no rule attached it")
            if note.profile_id is None:
                note.refused = True
                continue
            profile = self.matcher.profile_ids.index(note.profile_id)
            best = self.confidence.get(profile, 0.0)
            if best < threshold:
                note.refused = True
                note.reasons.append(f"the profile's confidence {best:.2f} is below {threshold}")
        return Explanation(sorted(self.notes.values(), key=lambda n: (n.start, n.end)))


def explain(
    text: str, matcher: SpanSource, policy: EnrichPolicy
) -> tuple[list[EntityMatch], Explanation]:
    """The matches of resolve(), and a note per candidate mention saying why."""
    resolver = _ExplainingResolver(text, matcher, policy)
    raw = matcher.raw_spans(text)
    spans = resolver.select(raw)
    for start, end, profile in resolver.full_names:
        resolver.consider(start, end, (AliasEntry(profile, KIND_FULL, 0, 2),))
    for candidate in spans:
        resolver.consider(candidate.start, candidate.end, candidate.entries)
    resolver.stage = "a full name or alias of one profile"
    resolver.attach_full_names()
    deferred = resolver.full_mentions(spans)
    resolver.stage = "a bare word acting as a name (a full mention, or a possessive or verb after)"
    resolver.deferred_mentions(deferred)
    resolver.short_mentions()
    resolver.refused_at_selection(raw)
    explanation = resolver.finish()
    return resolver.results(), explanation
