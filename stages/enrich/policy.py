"""The enrichment policy: thresholds and which resolution steps run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnrichPolicy:
    """How mentions become attached entities; tasks/runtime.enrich_policy maps settings onto it."""

    # Below this confidence nothing is attached: a wrong profile is worse than none.
    min_confidence: float = 0.5
    # Later short forms ("Xi") inherit the entity of a full mention ("Xi Jinping").
    coreference: bool = True
    # Distinctive surnames alone, title and nationality cues, popularity priors.
    cues_and_priors: bool = True
    distinctive_surname_confidence: float = 0.6
    # Characters each side of a mention read for cue words.
    context_chars: int = 160
