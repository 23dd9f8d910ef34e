"""Parse-and-filter speed of the Wikidata import on a synthetic dump in the official format.

Run: .venv/bin/python bench/bench_wikidata_import.py [--entities 200000] [--seed 18]

Builds a dump like the real one (a JSON array, one entity per line ending in a comma) where
most entities are not kept, as in Wikidata: scholarly articles with many authors, taxa,
places, categories and disambiguation pages, with about 10% people and organisations. Then it
measures, in CPU seconds of this process: decompression alone (gzip), the parse-and-filter
pass on the plain file (`filter_pass`, spool and label table included), and the same pass on
the .gz file. Prints entities/s per CPU second, bytes per entity, and peak RSS.
Target: >= 20,000 entities/s per core for parse-and-filter.
"""

from __future__ import annotations

import argparse
import gzip
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsworker.stages.wikidata.classes import load_class_filter, load_common_words
from newsworker.stages.wikidata.dump import open_dump
from newsworker.stages.wikidata.labels import LabelTable
from newsworker.stages.wikidata.scan import ScanOptions, ScanReport, Spool, filter_pass

LANGS = [
    "en",
    "de",
    "fr",
    "es",
    "it",
    "nl",
    "pl",
    "ru",
    "ja",
    "zh",
    "pt",
    "sv",
    "uk",
    "ar",
    "fa",
    "ca",
    "cs",
    "fi",
    "hu",
    "ko",
    "he",
    "id",
    "tr",
    "vi",
    "ro",
    "da",
    "nb",
    "el",
]
# (class, share of the dump): scholarly article, taxon, village, category, disambiguation,
# human, business, political party, university.
MIX = [
    (13442814, 0.40),
    (16521, 0.20),
    (532, 0.15),
    (4167836, 0.10),
    (4167410, 0.05),
    (5, 0.08),
    (4830453, 0.015),
    (7278, 0.0025),
    (3918, 0.0025),
]


def _item(number: int) -> dict[str, Any]:
    return {"entity-type": "item", "numeric-id": number, "id": f"Q{number}"}


def _statement(rng: random.Random, prop: str, value: Any, kind: str) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "mainsnak": {
            "snaktype": "value",
            "property": prop,
            "hash": f"{rng.getrandbits(160):040x}",
            "datavalue": {"value": value, "type": kind},
            "datatype": "wikibase-item",
        },
        "type": "statement",
        "id": f"Q1${rng.getrandbits(128):032x}",
        "rank": "normal",
    }
    if rng.random() < 0.5:
        statement["references"] = [
            {
                "hash": f"{rng.getrandbits(160):040x}",
                "snaks": {
                    "P248": [
                        {
                            "snaktype": "value",
                            "property": "P248",
                            "datavalue": {
                                "value": _item(rng.randint(1, 10**8)),
                                "type": "wikibase-entityid",
                            },
                            "datatype": "wikibase-item",
                        }
                    ]
                },
                "snaks-order": ["P248"],
            }
        ]
    return statement


def _time(year: int) -> dict[str, Any]:
    return {
        "time": f"+{year}-01-01T00:00:00Z",
        "timezone": 0,
        "before": 0,
        "after": 0,
        "precision": 9,
        "calendarmodel": "http://www.wikidata.org/entity/Q1985727",
    }


def synthetic_entity(rng: random.Random, number: int, cls: int) -> dict[str, Any]:
    """One entity shaped like a real one of its class (sizes vary as in the real dump)."""
    popular = rng.random() < 0.1
    langs = rng.sample(LANGS, rng.randint(12, len(LANGS)) if popular else rng.randint(1, 6))
    if "en" not in langs and rng.random() < 0.85:  # most kept-class items have an English label
        langs[0] = "en"
    name = f"Name{number} Surname{rng.randint(1, 10**6)}"
    claims: dict[str, list[Any]] = {
        "P31": [_statement(rng, "P31", _item(cls), "wikibase-entityid")]
    }
    if cls == 13442814:  # scholarly article: many authors and strings
        claims["P50"] = [
            _statement(rng, "P50", _item(rng.randint(1, 10**8)), "wikibase-entityid")
            for _ in range(rng.randint(1, 12))
        ]
        claims["P2093"] = [
            _statement(rng, "P2093", f"Author {i}", "string") for i in range(rng.randint(0, 15))
        ]
        claims["P577"] = [_statement(rng, "P577", _time(rng.randint(1950, 2024)), "time")]
        claims["P356"] = [_statement(rng, "P356", f"10.1000/{number}", "string")]
    else:
        for prop in ("P17", "P131", "P106", "P27", "P39", "P159", "P361", "P910"):
            if rng.random() < 0.6:
                claims[prop] = [
                    _statement(rng, prop, _item(rng.randint(1, 10**7)), "wikibase-entityid")
                    for _ in range(rng.randint(1, 4))
                ]
        claims["P571"] = [_statement(rng, "P571", _time(rng.randint(1800, 2020)), "time")]
        for i in range(rng.randint(2, 30) if popular else rng.randint(0, 6)):
            claims[f"P{2000 + i}"] = [_statement(rng, f"P{2000 + i}", f"id-{number}-{i}", "string")]
    return {
        "type": "item",
        "id": f"Q{number}",
        "labels": {x: {"language": x, "value": name} for x in langs},
        "descriptions": {x: {"language": x, "value": f"{name} in {x}"} for x in langs},
        "aliases": {x: [{"language": x, "value": f"{name} alias"}] for x in langs[:2]},
        "claims": claims,
        "sitelinks": {
            f"{x}wiki": {"site": f"{x}wiki", "title": name, "badges": []}
            for x in langs[: rng.randint(0, len(langs))]
        },
        "lastrevid": rng.randint(10**8, 2 * 10**9),
    }


def build_dump(path: Path, entities: int, seed: int) -> int:
    """Write the dump (plain) and return its size."""
    rng = random.Random(seed)
    classes = [c for c, _ in MIX]
    weights = [w for _, w in MIX]
    with path.open("wb") as out:
        out.write(b"[\n")
        for n in range(1, entities + 1):
            line = orjson.dumps(synthetic_entity(rng, n, rng.choices(classes, weights)[0]))
            out.write(line + (b",\n" if n < entities else b"\n"))
        out.write(b"]\n")
    return path.stat().st_size


def _cpu() -> float:
    return time.process_time()


def decompress_only(path: Path) -> float:
    """CPU seconds to read every line of the .gz without parsing."""
    start = _cpu()
    stream = open_dump(path)
    for _ in stream.lines():
        pass
    stream.close()
    return _cpu() - start


def parse_and_filter(path: Path, options: ScanOptions) -> tuple[float, ScanReport, LabelTable]:
    """CPU seconds of pass 1 (parse, filter, spool, label table) over the file."""
    labels, report, spool = LabelTable(options.languages), ScanReport(), Spool()
    start = _cpu()
    stream = open_dump(path)
    filter_pass(stream, options, labels, report, spool)
    stream.close()
    seconds = _cpu() - start
    for _ in spool.read():
        pass
    return seconds, report, labels


def main() -> None:
    """Build, measure, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    options = ScanOptions(load_class_filter(), load_common_words(), ("en", "de"))
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "dump.json"
        size = build_dump(plain, args.entities, args.seed)
        packed = Path(folder) / "dump.json.gz"
        with plain.open("rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        packed_size = packed.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        unzip = decompress_only(packed)
        plain_s, report, labels = parse_and_filter(plain, options)
        gz_s, _, _ = parse_and_filter(packed, options)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = report.entities
    print(f"entities: {n:,} ({size / n:,.0f} bytes each uncompressed, {packed_size / n:,.0f} gz)")
    print(f"kept: {report.kept:,}; skipped: {dict(report.skipped)}")
    print(f"decompression only (gzip): {unzip:.2f} CPU s = {n / unzip:,.0f} entities/s")
    print(
        f"parse-and-filter (plain file): {plain_s:.2f} CPU s = "
        f"**{n / plain_s:,.0f} entities/s per CPU second**, {size / plain_s / 1e6:,.0f} MB/s"
    )
    print(
        f"parse-and-filter (.gz, decompression included): {gz_s:.2f} CPU s = "
        f"{n / gz_s:,.0f} entities/s"
    )
    print(
        f"label table: {len(labels.wanted):,} wanted, {len(labels.labels):,} found, "
        f"seen bitmap {labels.seen.nbytes / 1e6:.1f} MB"
    )
    print(
        f"peak RSS: {rss / 1024:,.0f} MB (before measuring: {rss_before / 1024:,.0f} MB; "
        "the dump is built in this process too)"
    )


if __name__ == "__main__":
    main()
