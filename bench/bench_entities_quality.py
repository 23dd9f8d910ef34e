"""Document-level precision and recall of attached profile ids on the entity dev set.

Usage: .venv/bin/python bench/bench_entities_quality.py [--samples ../shared/samples/entities-dev]
Prints P, R and F1 for the full resolver and an ablation: exact match only, then coreference
(short forms after a full mention), then cues and priors (distinctive surnames, title and
nationality cues, popularity priors). Also prints mention-level counts of each step, since
the document-level scores of the early steps can already be high on a small set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsworker.stages.enrich import (
    EnrichPolicy,
    EntityMatcher,
    ProfilePolicy,
    matchable_from_input,
    normalize_profile,
)

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "entities-dev"

# A small invented set (names made up here, not the dev lines) with the traps the held-out sets
# are said to have, so the ablation shows what each step adds beyond exact names.
INVENTED_PROFILES = [
    {"id": "X1", "type": "person", "name": "Marta Oyelaran", "aliases": []},
    {
        "id": "X2",
        "type": "person",
        "name": "Park Min-ho",
        "aliases": [],
        "summary": "Park Min-ho is a South Korean politician, President of South Korea.",
    },
    {
        "id": "X3",
        "type": "person",
        "name": "Park Li Wei",
        "aliases": [],
        "summary": "Park Li Wei is a Singaporean diplomat and former minister of Singapore.",
    },
    {"id": "X4", "type": "organization", "name": "Northwind Traders", "aliases": ["Northwind"]},
    {"id": "X5", "type": "person", "name": "Henrik Dalgaard", "aliases": [], "prior": 0.9},
    {"id": "X6", "type": "person", "name": "Sofie Dalgaard", "aliases": [], "prior": 0.05},
    {"id": "X7", "type": "organization", "name": "Pacific Trade Forum", "aliases": ["PTF"]},
    {"id": "X8", "type": "person", "name": "Ayşe Kılıçdaroğlu", "aliases": []},
]
INVENTED_ARTICLES = [
    {"id": "i01", "text": "Talks resumed when Oyelaran arrived in Lagos.", "gold": ["X1"]},
    {
        "id": "i02",
        "text": "The South Korean president, Park, addressed parliament.",
        "gold": ["X2"],
    },
    {
        "id": "i03",
        "text": "In Singapore, the former minister Park spoke to diplomats.",
        "gold": ["X3"],
    },
    {"id": "i04", "text": "Park said little on Tuesday.", "gold": []},
    {"id": "i05", "text": "Voters backed Dalgaard, officials said.", "gold": ["X5"]},
    {"id": "i06", "text": "Students rallied at Oyelaran University on Friday.", "gold": []},
    {
        "id": "i07",
        "text": "Northwind said profits rose. The ptf rules were unchanged.",
        "gold": ["X4"],
    },
    {
        "id": "i08",
        "text": "Ayse Kilicdaroglu’s party met; Kılıçdaroğlu spoke later.",
        "gold": ["X8"],
    },
    {"id": "i09", "text": "Strong northwind gusts hit the PTF meeting.", "gold": ["X7"]},
    {"id": "i10", "text": "Mr Oyelaran and Ms Dalgaard met in Oslo.", "gold": ["X1"]},
    {
        "id": "i11",
        "text": "Voters backed Lidia Oyelaran in Lagos. Later, Oyelaran thanked them.",
        "gold": [],
    },
    {"id": "i12", "text": "Officials met Ayşe Kılıçdaroğlu Monday in Ankara.", "gold": ["X8"]},
]

STEPS = (
    ("exact match only", EnrichPolicy(coreference=False, cues_and_priors=False)),
    ("+ coreference", EnrichPolicy(coreference=True, cues_and_priors=False)),
    ("+ cues and priors", EnrichPolicy()),
)


def score(matcher: EntityMatcher, articles: list[dict], policy: EnrichPolicy) -> dict[str, float]:
    """Micro-averaged document-level precision and recall of attached ids."""
    tp = fp = fn = mentions = 0
    errors = []
    for article in articles:
        found = matcher.match(article["text"], policy=policy)
        got = {m.profile_id for m in found}
        gold = set(article["gold"])
        mentions += sum(len(m.mentions) for m in found)
        tp += len(got & gold)
        fp += len(got - gold)
        fn += len(gold - got)
        if got != gold:
            errors.append(
                f"{article['id']}: extra {sorted(got - gold)} missing {sorted(gold - got)}"
            )
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"P": precision, "R": recall, "F1": f1, "mentions": mentions, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    policy = ProfilePolicy()
    with (args.samples / "profiles.jsonl").open() as handle:
        profiles = [normalize_profile(json.loads(line), policy=policy) for line in handle]
    with (args.samples / "articles.jsonl").open() as handle:
        articles = [json.loads(line) for line in handle if line.strip()]
    matcher = EntityMatcher.build(matchable_from_input(p) for p in profiles)
    print(f"dev set: {len(profiles)} profiles, {len(articles)} articles, {args.samples}")
    print_table(matcher, articles, show_errors=args.show_errors)
    invented = [
        normalize_profile({"summary": "", "sources": [], **raw}, policy=policy)
        for raw in INVENTED_PROFILES
    ]
    print(f"invented traps: {len(invented)} profiles, {len(INVENTED_ARTICLES)} articles")
    invented_matcher = EntityMatcher.build(matchable_from_input(p) for p in invented)
    print_table(invented_matcher, INVENTED_ARTICLES, show_errors=args.show_errors)


def print_table(matcher: EntityMatcher, articles: list[dict], *, show_errors: bool) -> None:
    """One row per ablation step."""
    print(f"{'step':<20} {'P':>6} {'R':>6} {'F1':>6} {'mentions':>9}")
    for name, step_policy in STEPS:
        result = score(matcher, articles, step_policy)
        print(
            f"{name:<20} {result['P']:>6.3f} {result['R']:>6.3f} {result['F1']:>6.3f} "
            f"{result['mentions']:>9}"
        )
        if show_errors:
            for error in result["errors"]:
                print(f"    {error}")


if __name__ == "__main__":
    main()
