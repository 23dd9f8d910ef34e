"""Read the fields of one Wikidata entity as real records carry them, variations included.

Real records differ from the documentation: `lastrevid` may be missing, `sitelinks` may be an
empty list, an item value may carry only `numeric-id`, and snaks may be `novalue` or
`somevalue`. Every accessor here takes the record as it is and returns plain values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# The fast path for the dump's own key order, which starts every line this way.
_DUMP_PREFIX = re.compile(rb'\{"type":"item","id":"Q(\d+)"')


def qid_number(qid: str) -> int | None:
    """Q42 -> 42; None for anything that is not an item id."""
    if len(qid) > 1 and qid[0] in "Qq" and qid[1:].isdigit():
        return int(qid[1:])
    return None


def item_number_in_line(line: bytes) -> int | None:
    """The item's number read from a dump line's first bytes, without parsing it; else None."""
    match = _DUMP_PREFIX.match(line, 0, 48)
    return int(match.group(1)) if match else None


def text_by_language(field: Any, languages: Sequence[str]) -> tuple[str, str] | None:
    """The (language, value) of the first language with a non-empty value in a labels field."""
    if not isinstance(field, dict):
        return None
    for language in languages:
        entry = field.get(language)
        if isinstance(entry, dict):
            value = entry.get("value")
            if isinstance(value, str) and value.strip():
                return language, " ".join(value.split())
    return None


def texts_in_languages(field: Any, languages: Sequence[str]) -> Iterator[str]:
    """Every value of a labels or aliases field in the given languages, in language order."""
    if not isinstance(field, dict):
        return
    for language in languages:
        entries = field.get(language)
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            continue
        for entry in entries:
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, str) and value.strip():
                yield " ".join(value.split())


def _statements(entity: Mapping[str, Any], prop: str) -> Iterator[Mapping[str, Any]]:
    claims = entity.get("claims")
    if not isinstance(claims, dict):
        return
    statements = claims.get(prop)
    if not isinstance(statements, list):
        return
    for statement in statements:
        if isinstance(statement, dict) and statement.get("rank") != "deprecated":
            yield statement


def _value(snak: Any) -> Any:
    """A snak's value; None for novalue/somevalue snaks and malformed ones."""
    if not isinstance(snak, dict) or snak.get("snaktype", "value") != "value":
        return None
    datavalue = snak.get("datavalue")
    return datavalue.get("value") if isinstance(datavalue, dict) else None


def item_number(value: Any) -> int | None:
    """An item value's number, from `id` or, in older records, `numeric-id` alone."""
    if not isinstance(value, dict):
        return None
    qid = value.get("id")
    if isinstance(qid, str):
        return qid_number(qid)
    number = value.get("numeric-id")
    entity_type = value.get("entity-type", "item")
    if isinstance(number, int) and entity_type == "item":
        return number
    return None


def item_claims(entity: Mapping[str, Any], prop: str) -> list[int]:
    """The item numbers a property's statements point to, in order, without repeats."""
    numbers = (item_number(_value(s.get("mainsnak"))) for s in _statements(entity, prop))
    return list(dict.fromkeys(n for n in numbers if n is not None))


def year_of(value: Any) -> int | None:
    """The year of a time value ("+1952-03-11T00:00:00Z" -> 1952; BCE years are negative)."""
    time = value.get("time") if isinstance(value, dict) else None
    if not isinstance(time, str) or len(time) < 5:
        return None
    sign = -1 if time[0] == "-" else 1
    digits = time.lstrip("+-").split("-", 1)[0]
    return sign * int(digits) if digits.isdigit() else None


def first_year(entity: Mapping[str, Any], prop: str) -> int | None:
    """The year of a time property's first usable statement."""
    for statement in _statements(entity, prop):
        year = year_of(_value(statement.get("mainsnak")))
        if year is not None:
            return year
    return None


def _qualifier_year(statement: Mapping[str, Any], prop: str) -> int | None:
    qualifiers = statement.get("qualifiers")
    snaks = qualifiers.get(prop) if isinstance(qualifiers, dict) else None
    if isinstance(snaks, list):
        for snak in snaks:
            year = year_of(_value(snak))
            if year is not None:
                return year
    return None


def positions_held(entity: Mapping[str, Any]) -> list[tuple[int, int | None, int | None]]:
    """P39 as (position, start year, end year), from the P580/P582 qualifiers."""
    held = []
    for statement in _statements(entity, "P39"):
        number = item_number(_value(statement.get("mainsnak")))
        if number is not None:
            held.append(
                (number, _qualifier_year(statement, "P580"), _qualifier_year(statement, "P582"))
            )
    return held


def sitelinks(entity: Mapping[str, Any]) -> Mapping[str, Any]:
    """The sitelinks as a mapping; an empty list (as some records carry) is no sitelinks."""
    value = entity.get("sitelinks")
    return value if isinstance(value, dict) else {}


def wikipedia_title(links: Mapping[str, Any], languages: Sequence[str]) -> tuple[str, str] | None:
    """(language, page title) of the first language with a Wikipedia sitelink."""
    for language in languages:
        link = links.get(f"{language.replace('-', '_')}wiki")
        title = link.get("title") if isinstance(link, dict) else None
        if isinstance(title, str) and title.strip():
            return language, title.strip()
    return None


def lastrevid(entity: Mapping[str, Any]) -> int | None:
    """The entity's last revision id, when the record carries one."""
    value = entity.get("lastrevid")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
