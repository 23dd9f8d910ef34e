"""Decide which profile each mention means: longest match, case and context rules, coreference."""

from __future__ import annotations

from collections.abc import Sequence

from newsworker.stages.enrich.aliases import (
    KIND_ACRONYM,
    KIND_FULL,
    KIND_SHORT,
    Candidate,
    SpanSource,
)
from newsworker.stages.enrich.context import (
    has_name_evidence,
    inside_longer_name,
    is_headline_caps,
    is_sentence_initial,
    title_before,
)
from newsworker.stages.enrich.folding import fold_text, inner_punctuation
from newsworker.stages.enrich.match_records import entity_matches
from newsworker.stages.enrich.policy import EnrichPolicy
from newsworker.stages.records import EntityMatch

_OCCUPIED = b"\x01" * 256
_new_tuple = tuple.__new__

CONFIDENCE_FULL_NAME = 0.95
CONFIDENCE_SINGLE_ALIAS = 0.9
CONFIDENCE_COREFERENCE = 0.9
CONFIDENCE_COREFERENCE_SEVERAL = 0.8


class _Resolver:
    """One article's resolution state."""

    def __init__(self, text: str, matcher: SpanSource, policy: EnrichPolicy) -> None:
        self.text = text
        self.matcher = matcher
        self.policy = policy
        # Per attached profile: its best confidence, and its mention spans.
        self.confidence: dict[int, float] = {}
        self.spans: dict[int, list[tuple[int, int]]] = {}
        # Start offsets of accepted full mentions, per profile: the anchors for short forms.
        self.anchors: dict[int, list[int]] = {}
        # Spans that only short forms fit, collected by full_mentions for short_mentions.
        self.short_only: list[Candidate] = []
        # Short forms that also appear as part of an unknown longer name in this text.
        self.blocked: set[int] = set()
        # (start, end, profile) of the multi-word full names select attached: entered in the
        # three maps above only when some other span needs them (see attach_full_names).
        self.full_names: list[tuple[int, int, int]] = []

    def attach(self, profile: int, candidate: Candidate, confidence: float) -> None:
        """Add the candidate's span to the profile's spans, at least at this confidence."""
        self.attach_span(profile, candidate.start, candidate.end, confidence)

    def attach_span(self, profile: int, start: int, end: int, confidence: float) -> None:
        """Add [start, end) to the profile's spans, at least at this confidence."""
        spans = self.spans.get(profile)
        if spans is None:
            self.spans[profile] = [(start, end)]
            self.confidence[profile] = confidence
            return
        spans.append((start, end))
        self.confidence[profile] = max(self.confidence[profile], confidence)

    def anchor(self, profile: int, start: int) -> None:
        """Record a full mention at start: short forms of the profile may refer to it."""
        anchors = self.anchors.get(profile)
        if anchors is None:
            self.anchors[profile] = [start]
        else:
            anchors.append(start)

    def select(self, raw: list[tuple[int, int, int, int, int]]) -> list[Candidate]:
        """Take the longest valid spans, no two overlapping; return them in text order.

        A span is valid when some alias fits its case and it is not the head or tail of a longer
        capitalised name; validity is checked only for spans that are not already covered, so
        the short forms inside a full name cost nothing. Patterns seen inside a longer
        capitalised name are added to blocked: "Eric Adams ... Adams said" is about Eric Adams,
        not a stored Adams. The common span, a multi-word full name of one profile in title case
        or capitals, is attached at once to full_names, as full_mentions would attach it (the
        order of attachments does not change the result); the others are returned for
        full_mentions.
        """
        text = self.text
        matcher = self.matcher
        # Original offsets are monotonic in folded ones, so overlap can be tested on either.
        occupied = bytearray(len(text) + 1)
        is_occupied = occupied.find
        taken: list[Candidate] = []
        fitting = matcher.entries_fitting
        may_start_lower = matcher.may_start_lower
        full_name_profile = matcher.full_name_profile
        trailing_mark = matcher.trailing_mark
        inner_marks = matcher.inner_marks
        add_full_name = self.full_names.append
        for _length, _folded_start, pattern, start, end in raw:
            # A taken span is at least as long, so it covers an end of any span it overlaps:
            # two byte reads settle the common case (a short form inside a full name).
            if occupied[start] or occupied[end - 1] or is_occupied(1, start, end) >= 0:
                continue
            first = text[start]
            if not (first.isupper() or first.isdigit()) and not may_start_lower(pattern):
                continue  # cheap exit for common words: "who", "target", "shell companies"
            span = text[start:end]
            form = inner_marks[pattern]
            if form and inner_punctuation(span) != matcher.mark_forms[form]:
                continue  # folding blanked other marks than the alias has: "Goldman. Sachs"
            profile = full_name_profile[pattern]
            if profile >= 0 and (span.istitle() or span.isupper()):
                # inside_longer_name's own fast exit, inlined: no capitalised word right after,
                # and no word right before.
                after = text[end : end + 1]
                if (
                    (after in (" ", "-") and text[end + 1 : end + 2].isupper())
                    or (start > 1 and text[start - 1] in " -" and text[start - 2].isalpha())
                ) and inside_longer_name(text, start, end):
                    self.blocked.add(pattern)
                    continue
                mark = trailing_mark[pattern]
                if mark and text[end : end + 1] == chr(mark):
                    end += 1  # noqa: PLW2901 - the alias's own final mark: "Inc.", not "Inc"
                occupied[start:end] = (
                    _OCCUPIED[: end - start] if end - start <= 256 else b"\x01" * (end - start)
                )
                add_full_name((start, end, profile))
                continue
            entries = fitting(pattern, span)
            if not entries:
                continue
            if inside_longer_name(text, start, end, entries):
                self.blocked.add(pattern)
                continue
            mark = trailing_mark[pattern]
            if mark and text[end : end + 1] == chr(mark):
                end += 1  # noqa: PLW2901
            occupied[start:end] = (
                _OCCUPIED[: end - start] if end - start <= 256 else b"\x01" * (end - start)
            )
            taken.append(_new_tuple(Candidate, (start, end, entries, pattern)))
        taken.sort()  # by start: the taken spans never overlap
        return taken

    def attach_full_names(self) -> None:
        """Enter the full names select attached in the confidence, span and anchor maps."""
        for start, end, profile in self.full_names:
            self.attach_span(profile, start, end, CONFIDENCE_FULL_NAME)
            self.anchor(profile, start)

    def full_name_results(self) -> list[EntityMatch]:
        """results() when select attached nothing but full names, all at one confidence."""
        if self.policy.min_confidence > CONFIDENCE_FULL_NAME:
            return []
        full_names = self.full_names
        full_names.sort()  # by start: mentions never overlap
        # Profiles in first-mention order, each with its spans in text order.
        spans_of: dict[int, list[tuple[int, int]]] = {}
        for start, end, profile in full_names:
            spans = spans_of.get(profile)
            if spans is None:
                spans_of[profile] = [(start, end)]
            else:
                spans.append((start, end))
        return entity_matches(
            self.text,
            self.matcher.profile_ids,
            [(profile, CONFIDENCE_FULL_NAME, spans) for profile, spans in spans_of.items()],
        )

    def full_mentions(self, spans: Sequence[Candidate]) -> list[tuple[Candidate, int]]:
        """Attach unambiguous full names and aliases; return the risky ones for later."""
        deferred: list[tuple[Candidate, int]] = []
        for candidate in spans:
            entries = candidate.entries
            if len(entries) == 1:
                entry = entries[0]
                if entry.kind == KIND_FULL and entry.token_count > 1:
                    # The common case, a multi-word full name: attach it at once.
                    profile = entry.profile
                    self.attach(profile, candidate, CONFIDENCE_FULL_NAME)
                    self.anchor(profile, candidate.start)
                    continue
                if entry.kind == KIND_SHORT:
                    self.short_only.append(candidate)
                    continue
                profiles = [entry.profile]
            else:
                full = [e for e in entries if e.kind != KIND_SHORT]
                if not full:
                    self.short_only.append(candidate)
                    continue
                entry = full[0]
                profiles = sorted({e.profile for e in full})
            if entry.token_count == 1 and entry.kind != KIND_ACRONYM:
                span = self.text[candidate.start : candidate.end]
                if span.isupper() and (
                    len(span) < 3 or not is_headline_caps(self.text, candidate.start, candidate.end)
                ):
                    self.refuse(candidate, "an all-caps word in running text: another acronym")
                    continue
                if len(profiles) == 1 and (
                    span.isupper() or is_sentence_initial(self.text, candidate.start)
                ):
                    deferred.append((candidate, profiles[0]))
                    continue
            if len(profiles) > 1:
                self.ambiguous(candidate, profiles)
                continue
            confidence = CONFIDENCE_FULL_NAME if entry.token_count > 1 else CONFIDENCE_SINGLE_ALIAS
            self.attach(profiles[0], candidate, confidence)
            self.anchor(profiles[0], candidate.start)
        return deferred

    def deferred_mentions(self, deferred: Sequence[tuple[Candidate, int]]) -> None:
        """Risky bare words attach when the text shows they act as a name."""
        for candidate, profile in deferred:
            if profile in self.anchors or has_name_evidence(self.text, candidate):
                self.attach(profile, candidate, CONFIDENCE_SINGLE_ALIAS - 0.1)
                self.anchor(profile, candidate.start)
            else:
                self.refuse(
                    candidate,
                    "a bare word at a sentence start or in capitals, with no "
                    "full mention and no name evidence (possessive, verb of saying)",
                )

    def short_mentions(self) -> None:
        """Surnames and short forms: coreference first, then distinctive names, then cues."""
        for candidate in self.short_only:
            profiles = sorted({e.profile for e in candidate.entries})
            anchored = [p for p in profiles if p in self.anchors]
            if anchored and self.policy.coreference:
                self.coreference(candidate, anchored)
            elif self.policy.cues_and_priors:
                self.short_without_anchor(candidate, profiles)

    def coreference(self, candidate: Candidate, anchored: list[int]) -> None:
        """A short form refers to the full mention before it, else to the nearest after it."""
        if len(anchored) == 1:
            self.attach(anchored[0], candidate, CONFIDENCE_COREFERENCE)
            return

        def distance(profile: int) -> tuple[int, int]:
            before = [s for s in self.anchors[profile] if s < candidate.start]
            if before:
                return (0, candidate.start - max(before))
            return (1, min(self.anchors[profile]) - candidate.start)

        self.attach(min(anchored, key=distance), candidate, CONFIDENCE_COREFERENCE_SEVERAL)

    def short_without_anchor(self, candidate: Candidate, profiles: list[int]) -> None:
        """A short form with no full mention attaches only when distinctive and name-like."""
        if candidate.pattern in self.blocked:
            # The text names someone else with this surname ("Eric Adams").
            self.refuse(candidate, "the text also has it inside a longer name")
            return
        span = self.text[candidate.start : candidate.end]
        if span.isupper() and not is_headline_caps(self.text, candidate.start, candidate.end):
            # "UN" is not the short form of "Kim Jong Un".
            self.refuse(candidate, "a short form in capitals in running text")
            return
        risky = is_sentence_initial(self.text, candidate.start) or span.isupper()
        if risky and not has_name_evidence(self.text, candidate):
            self.refuse(candidate, "a short form at a sentence start with no name evidence")
            return
        if len(profiles) == 1:
            if len(span) < 3:
                self.refuse(candidate, "a two-letter short form with no full mention before it")
                return
            confidence = self.policy.distinctive_surname_confidence
            if title_before(self.text, candidate.start):
                confidence = min(0.85, confidence + 0.15)
            self.attach(profiles[0], candidate, confidence)
            return
        self.ambiguous(candidate, profiles)

    def ambiguous(self, candidate: Candidate, profiles: list[int]) -> None:
        """Several profiles fit: cue words, title and priors decide, or nothing attaches."""
        if not self.policy.cues_and_priors:
            return
        context = self.context_words(candidate)
        titled = title_before(self.text, candidate.start)
        scores = []
        for profile in profiles:
            cues = set(self.matcher.cues[profile].split())
            prior = self.matcher.prior_of(profile)
            score = 0.2 if prior is None else max(0.0, prior)
            score += 0.6 * min(3, len(cues & context))
            if titled:
                score *= 1.5 if self.matcher.type_of(profile) == "person" else 0.3
            scores.append((score, profile))
        scores.sort(reverse=True)
        self.scored(candidate, scores)
        total = sum(score for score, _ in scores)
        best, profile = scores[0]
        if total <= 0 or best <= scores[1][0]:
            self.refuse(candidate, "several profiles fit and cues, title and prior tie")
            return
        confidence = best / total
        if confidence >= self.policy.min_confidence:
            self.attach(profile, candidate, confidence)
        else:
            self.refuse(
                candidate, f"the best profile's share {confidence:.2f} is below the minimum"
            )

    def refuse(self, candidate: Candidate, reason: str) -> None:
        """Nothing attaches at the candidate, for the reason given (recorded when explaining)."""

    def scored(self, candidate: Candidate, scores: list[tuple[float, int]]) -> None:
        """The scores of the profiles that fit an ambiguous candidate (recorded when explaining)."""

    def context_words(self, candidate: Candidate) -> set[str]:
        """Folded words around the mention, the mention itself excluded."""
        window = self.policy.context_chars
        before = self.text[max(0, candidate.start - window) : candidate.start]
        after = self.text[candidate.end : candidate.end + window]
        return set(fold_text(before)[0].split()) | set(fold_text(after)[0].split())

    def results(self) -> list[EntityMatch]:
        """The attached profiles at or above the policy's confidence, in first-mention order."""
        threshold = self.policy.min_confidence
        confidence = self.confidence
        rows = []
        for profile, spans in self.spans.items():
            if confidence[profile] < threshold:
                continue
            if len(spans) > 1:
                spans.sort()
            # Mentions never overlap, so first starts differ and the profile never decides order.
            rows.append((spans[0][0], profile, spans))
        rows.sort()
        return entity_matches(
            self.text,
            self.matcher.profile_ids,
            [(profile, confidence[profile], spans) for _, profile, spans in rows],
        )


def resolve(text: str, matcher: SpanSource, policy: EnrichPolicy) -> list[EntityMatch]:
    """Find and resolve the entity mentions of one text."""
    raw = matcher.raw_spans(text)
    if not raw:
        return []
    resolver = _Resolver(text, matcher, policy)
    spans = resolver.select(raw)
    if not spans:
        # Only multi-word full names (the common article): no other rule has anything to do.
        return resolver.full_name_results()
    resolver.attach_full_names()
    deferred = resolver.full_mentions(spans)
    resolver.deferred_mentions(deferred)
    resolver.short_mentions()
    return resolver.results()
