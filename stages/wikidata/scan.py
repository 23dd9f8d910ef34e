"""The import's passes over a dump: filter and spool kept entities, find labels, yield profiles.

Pass 1 streams the dump once: every line is checked against the kept classes, kept entities
are reduced to a slim record and spooled to a temporary file, and the labels their claims
want are collected (`LabelTable`). Pass 2 runs only for a file (not stdin) and only when some
wanted labels streamed by too early: it parses just the lines of those items. Profiles are then
written from the spool, in dump order, so memory holds the label table and nothing per entity.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from newsworker.stages.wikidata.classes import (
    DISAMBIGUATION,
    DISAMBIGUATION_PAGE,
    NO_CLASS,
    OTHER_CLASS,
    ClassFilter,
)
from newsworker.stages.wikidata.dump import DumpStream, entity_bytes, open_dump, parse_entity
from newsworker.stages.wikidata.entity import item_number_in_line, lastrevid, qid_number
from newsworker.stages.wikidata.labels import LabelTable
from newsworker.stages.wikidata.profile import profile_from_slim, referenced_items, slim_record

PROGRESS_EVERY = 2000
MAX_PROBLEMS = 1000
INVALID = "invalid JSON"
TRUNCATED = "truncated or corrupt input"
NO_LABEL = "no label in the chosen languages"
NOT_NEWER = "not newer than --since-revision"


@dataclass(frozen=True)
class ScanOptions:
    """What to keep and how to write it."""

    class_filter: ClassFilter
    common_words: frozenset[str]
    languages: Sequence[str] = ("en",)
    since_revision: int | None = None
    limit: int | None = None


@dataclass
class ScanReport:
    """What the passes saw: counts, skips by reason, problems by line, the revision watermark."""

    entities: int = 0
    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, str]] = field(default_factory=list)
    max_lastrevid: int | None = None
    bytes_read: int = 0
    labels_wanted: int = 0
    labels_unresolved: int = 0
    second_pass: bool = False
    completed: bool = False

    def skip(self, reason: str, line: int | None = None, detail: str | None = None) -> None:
        """Count a skipped entity; bad input also keeps its line number."""
        self.skipped[reason] += 1
        if line is not None and len(self.problems) < MAX_PROBLEMS:
            self.problems.append((line, detail or reason))


_P31 = b'"P31":[{"mainsnak"'
_NEXT_PROPERTY = b'":[{"mainsnak"'
_ITEM_NUMBER = re.compile(rb'(?:"numeric-id":\s*|"id":\s*"Q)(\d+)')


class ClassPrefilter:
    """Tells from the raw line, without parsing it, that an entity cannot be kept.

    In the dump's key order a claim list starts `"P31":[{"mainsnak"` and the next property's
    list starts `":[{"mainsnak"`, so the item numbers between the two are P31's values (plus
    any in its qualifiers and references: a false "maybe" only costs a full parse). A line in
    any other key order is always a "maybe".
    """

    def __init__(self, class_filter: ClassFilter) -> None:
        self.numbers = class_filter.wanted

    def skip_reason(self, text: bytes) -> str | None:
        """Why the line cannot be kept, or None when it may be (then it is parsed)."""
        start = text.find(_P31)
        if start < 0:
            return None if b'"P31":[' in text else NO_CLASS
        end = text.find(_NEXT_PROPERTY, start + len(_P31))
        found = {int(n) for n in _ITEM_NUMBER.findall(text, start, end if end > 0 else len(text))}
        if not found.isdisjoint(self.numbers):
            return None
        return DISAMBIGUATION if DISAMBIGUATION_PAGE in found else OTHER_CLASS


class Spool:
    """Slim records on a temporary file, one orjson line each: kept entities wait for labels."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="newsworker-wikidata-")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        self._file.write(orjson.dumps(record) + b"\n")

    def read(self) -> Iterator[dict[str, Any]]:
        """Every record, in the order written; closes the spool at the end."""
        self._file.seek(0)
        try:
            for line in self._file:
                yield orjson.loads(line)
        finally:
            self._file.close()


def _keep(
    number: int, text: bytes, options: ScanOptions, labels: LabelTable, report: ScanReport
) -> dict[str, Any] | None:
    try:
        entity = parse_entity(text)
    except ValueError as e:
        report.skip(INVALID, number, str(e))
        return None
    item = qid_number(str(entity.get("id", "")))
    if item is not None:
        labels.saw(item, entity)
    kind, reason = options.class_filter.classify(entity)
    if kind is None:
        report.skip(reason or OTHER_CLASS)
        return None
    revision = lastrevid(entity)
    if revision is not None:
        report.max_lastrevid = max(report.max_lastrevid or 0, revision)
        if options.since_revision is not None and revision <= options.since_revision:
            report.skip(NOT_NEWER)
            return None
    record = slim_record(
        entity, kind, languages=options.languages, common_words=options.common_words
    )
    if record is None:
        report.skip(NO_LABEL, number, f"{entity.get('id')}: {NO_LABEL}")
        return None
    labels.want(referenced_items(record))
    return record


def filter_pass(
    stream: DumpStream,
    options: ScanOptions,
    labels: LabelTable,
    report: ScanReport,
    spool: Spool,
    progress: Callable[[ScanReport], None] | None = None,
) -> None:
    """Pass 1: spool kept entities, collect wanted labels, count the rest by reason."""
    prefilter = ClassPrefilter(options.class_filter)
    for number, line in stream.lines():
        text = entity_bytes(line)
        if text is None:
            continue
        report.entities += 1
        item = item_number_in_line(text)
        reason = prefilter.skip_reason(text) if item is not None else None
        if item is not None and reason is not None:
            # Not kept, seen without parsing; parsed only when its label is wanted.
            report.skip(reason)
            labels.seen.add(item)
            if item in labels.wanted:
                try:
                    labels.take(item, parse_entity(text))
                except ValueError as e:
                    report.skip(INVALID, number, str(e))
        else:
            record = _keep(number, text, options, labels, report)
            if record is not None:
                spool.write(record)
                report.kept += 1
        if progress is not None and report.entities % PROGRESS_EVERY == 0:
            report.bytes_read = stream.bytes_read
            progress(report)
        if options.limit is not None and report.kept >= options.limit:
            break
    else:
        report.completed = not stream.problems
    for line_number, problem in stream.problems:
        report.skip(TRUNCATED, line_number, problem)
    report.bytes_read = stream.bytes_read


def label_pass(stream: DumpStream, labels: LabelTable) -> None:
    """Pass 2: read the labels that streamed by before anything wanted them."""
    for _number, line in stream.lines():
        text = entity_bytes(line)
        if text is None:
            continue
        item = item_number_in_line(text)
        if item is not None and item not in labels.missed:
            continue
        try:
            entity = parse_entity(text)
        except ValueError:
            continue  # counted in pass 1
        number = qid_number(str(entity.get("id", "")))
        if number is not None and number in labels.missed:
            labels.take(number, entity)
            if not labels.missed:
                return


def wikidata_profiles(
    source: str | Path,
    options: ScanOptions,
    report: ScanReport,
    progress: Callable[[ScanReport], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Profiles (in the JSON Lines import format) of the dump's people and organisations."""
    labels = LabelTable(options.languages)
    spool = Spool()
    stream = open_dump(source)
    try:
        filter_pass(stream, options, labels, report, spool, progress)
    finally:
        stream.close()
    if labels.needs_second_pass and str(source) != "-":
        report.second_pass = True
        second = open_dump(source)
        try:
            label_pass(second, labels)
        finally:
            second.close()
    report.labels_wanted = len(labels.wanted)
    report.labels_unresolved = labels.unresolved()
    for record in spool.read():
        yield profile_from_slim(record, labels.get)
