"""Build a profile from one Wikidata entity: name, aliases, a claims summary, sources, prior.

Building happens in two steps because claim values are item ids whose labels may come later
in the dump: `slim_record` keeps what the profile needs from the entity (while the dump
streams past), and `profile_from_slim` writes the profile once the labels are known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from newsworker.stages.wikidata import entity as wd

WIKIDATA_URL = "https://www.wikidata.org/wiki/{qid}"
WIKIPEDIA_URL = "https://{language}.wikipedia.org/wiki/{title}"
LICENCE = "CC0 (Wikidata)"
# The prior is log(1 + sitelinks) / log(1 + PRIOR_REFERENCE_SITELINKS), capped at 1. The
# reference is about the sitelink count of the most-linked entities (around 350), fixed rather
# than taken from each dump so that a re-import does not move every prior (and version).
PRIOR_REFERENCE_SITELINKS = 350
MAX_LISTED = 3
_NOT_A_NAME = re.compile(r"[\d\W_]+")

Labels = Callable[[int], str | None]


def prior_from_sitelinks(count: int) -> float:
    """The popularity prior (0..1) from a sitelink count, log-scaled, rounded to 3 places."""
    if count <= 0:
        return 0.0
    return round(min(1.0, math.log1p(count) / math.log1p(PRIOR_REFERENCE_SITELINKS)), 3)


def useful_aliases(
    name: str, candidates: Iterator[str] | Sequence[str], common_words: frozenset[str]
) -> list[str]:
    """Aliases worth matching: not the name, not one letter, not only digits, not a common word."""
    seen = {name.casefold()}
    kept = []
    for alias in candidates:
        folded = alias.casefold()
        if folded in seen:
            continue
        seen.add(folded)
        if len(alias) < 2 or _NOT_A_NAME.fullmatch(alias) or folded in common_words:
            continue
        kept.append(alias)
    return kept


def slim_record(
    entity: Mapping[str, Any],
    kind: str,
    *,
    languages: Sequence[str],
    common_words: frozenset[str],
) -> dict[str, Any] | None:
    """What a profile needs from the entity, as plain JSON values; None when it has no label."""
    label = wd.text_by_language(entity.get("labels"), languages)
    if label is None:
        return None
    name = label[1]
    candidates = [
        *wd.texts_in_languages(entity.get("labels"), languages),
        *wd.texts_in_languages(entity.get("aliases"), languages),
    ]
    description = wd.text_by_language(entity.get("descriptions"), languages)
    links = wd.sitelinks(entity)
    record: dict[str, Any] = {
        "id": entity["id"],
        "type": kind,
        "name": name,
        "aliases": useful_aliases(name, candidates, common_words),
        "description": description[1] if description else "",
        "sitelinks": len(links),
        "wiki": wd.wikipedia_title(links, languages),
    }
    if kind == "person":
        record["occupations"] = wd.item_claims(entity, "P106")[:MAX_LISTED]
        record["citizenships"] = wd.item_claims(entity, "P27")[:MAX_LISTED]
        record["positions"] = wd.positions_held(entity)[:MAX_LISTED]
        record["born"] = wd.first_year(entity, "P569")
    else:
        record["countries"] = wd.item_claims(entity, "P17")[:MAX_LISTED]
        record["headquarters"] = wd.item_claims(entity, "P159")[:MAX_LISTED]
        record["inception"] = wd.first_year(entity, "P571")
    return record


def referenced_items(record: Mapping[str, Any]) -> Iterator[int]:
    """The item numbers whose labels the record's summary needs."""
    for key in ("occupations", "citizenships", "countries", "headquarters"):
        yield from record.get(key) or ()
    for position in record.get("positions") or ():
        yield position[0]


def _names(numbers: Sequence[int], labels: Labels) -> list[str]:
    return [label for label in (labels(n) for n in numbers) if label]


def _span(start: int | None, end: int | None) -> str:
    if start and end:
        return f" ({start}–{end})" if start != end else f" ({start})"
    if start:
        return f" (since {start})"
    return f" (until {end})" if end else ""


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".;,")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def _facts_and_parts(record: Mapping[str, Any], labels: Labels) -> tuple[dict[str, Any], list[str]]:
    facts: dict[str, Any] = {}
    parts: list[str] = []
    if record["type"] == "person":
        occupations = _names(record.get("occupations") or [], labels)
        positions = [
            (label, start, end)
            for number, start, end in record.get("positions") or []
            if (label := labels(number))
        ]
        citizenships = _names(record.get("citizenships") or [], labels)
        if occupations:
            facts["occupation"] = occupations
            parts.append("occupation: " + ", ".join(occupations))
        if positions:
            facts["positions_held"] = [
                {"position": label, "start": start, "end": end} for label, start, end in positions
            ]
            parts.append(
                "positions held: " + ", ".join(f"{p}{_span(s, e)}" for p, s, e in positions)
            )
        if citizenships:
            facts["citizenship"] = citizenships
            parts.append("citizenship: " + ", ".join(citizenships))
        if record.get("born") is not None:
            facts["birth_year"] = record["born"]
    else:
        countries = _names(record.get("countries") or [], labels)
        headquarters = _names(record.get("headquarters") or [], labels)
        if headquarters:
            facts["headquarters"] = headquarters
            parts.append("headquarters: " + ", ".join(headquarters))
        if countries:
            facts["country"] = countries
            parts.append("country: " + ", ".join(countries))
        if record.get("inception") is not None:
            facts["inception_year"] = record["inception"]
    return facts, parts


def summary_of(record: Mapping[str, Any], labels: Labels) -> tuple[str, dict[str, Any]]:
    """One or two sentences: the description with a year, then the key claims by label."""
    facts, parts = _facts_and_parts(record, labels)
    year = facts.get("birth_year", facts.get("inception_year"))
    when = ""
    if year is not None:
        word = "born" if record["type"] == "person" else "founded"
        when = f" ({word} {year})" if year > 0 else f" ({word} {-year} BCE)"
    description = record.get("description") or ""
    first = f"{record['name']}{when}: {description}" if description else f"{record['name']}{when}"
    sentences = [_sentence(first)]
    if parts:
        sentences.append(_sentence("; ".join(parts)))
    return " ".join(sentences), facts


def profile_from_slim(record: Mapping[str, Any], labels: Labels) -> dict[str, Any]:
    """The profile, in the JSON Lines import format, from a slim record and a label lookup."""
    summary, facts = summary_of(record, labels)
    qid = record["id"]
    sources = [
        {"title": f"Wikidata {qid}", "url": WIKIDATA_URL.format(qid=qid), "licence": LICENCE}
    ]
    if record.get("wiki"):
        language, title = record["wiki"]
        sources.append(
            {
                "title": f"Wikipedia ({language}): {title}",
                "url": WIKIPEDIA_URL.format(
                    language=language, title=quote(title.replace(" ", "_"), safe="()',:!~")
                ),
                "licence": "CC BY-SA 4.0",
            }
        )
    facts["wikidata"] = {"sitelinks": record.get("sitelinks", 0)}
    return {
        "id": qid,
        "type": record["type"],
        "name": record["name"],
        "aliases": record["aliases"],
        "summary": summary,
        "facts": facts,
        "sources": sources,
        "prior": prior_from_sitelinks(int(record.get("sitelinks") or 0)),
    }
