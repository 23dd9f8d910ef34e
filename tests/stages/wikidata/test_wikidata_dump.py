"""The dump reader and profile building on real entity records: formats, bad input, variations."""

from __future__ import annotations

import bz2
import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from newsworker.stages.wikidata.classes import load_class_filter, load_common_words
from newsworker.stages.wikidata.profile import prior_from_sitelinks, useful_aliases
from newsworker.stages.wikidata.scan import (
    INVALID,
    NO_LABEL,
    TRUNCATED,
    ScanOptions,
    ScanReport,
    wikidata_profiles,
)

FIXTURE = Path(__file__).parent / "fixtures" / "entities.json"
KEPT = ["Q42", "Q328212", "Q95", "Q29552"]


def _options(**changes: object) -> ScanOptions:
    base = {
        "class_filter": load_class_filter(),
        "common_words": load_common_words(),
        "languages": ("en", "de"),
    }
    base.update(changes)
    return ScanOptions(**base)  # type: ignore[arg-type]


def _run(source: str | Path, **changes: object) -> tuple[list[dict], ScanReport]:
    report = ScanReport()
    return list(wikidata_profiles(source, _options(**changes), report)), report


def _compressed(tmp_path: Path, kind: str) -> Path:
    target = tmp_path / f"dump.json.{kind}"
    opener = gzip.open if kind == "gz" else bz2.open
    with FIXTURE.open("rb") as src, opener(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


@pytest.mark.parametrize("kind", ["plain", "gz", "bz2"])
def test_people_and_organisations_are_kept_from_every_format(tmp_path: Path, kind: str) -> None:
    source = FIXTURE if kind == "plain" else _compressed(tmp_path, kind)
    profiles, report = _run(source)
    assert [p["id"] for p in profiles] == KEPT
    assert report.entities == 11 and report.kept == 4
    assert report.skipped["disambiguation page"] == 1
    assert report.skipped["not a person or organisation"] == 5  # city, countries, class, no label
    assert report.bytes_read == source.stat().st_size
    assert report.completed and not report.problems


def test_profile_fields_come_from_claims_with_labels_not_qids() -> None:
    profiles = {p["id"]: p for p in _run(FIXTURE)[0]}
    adams = profiles["Q42"]
    assert adams["type"] == "person" and adams["name"] == "Douglas Adams"
    assert adams["summary"] == (
        "Douglas Adams (born 1952): English writer and humorist. "
        "Occupation: writer; citizenship: United Kingdom."
    )
    assert [s["url"] for s in adams["sources"]] == [
        "https://www.wikidata.org/wiki/Q42",
        "https://en.wikipedia.org/wiki/Douglas_Adams",
    ]
    roth = profiles["Q328212"]  # numeric-id only, no lastrevid: still read
    assert "citizenship: United States of America" in roth["summary"]
    party = profiles["Q29552"]
    assert party["type"] == "organization"
    assert party["sources"][1]["url"] == (
        "https://en.wikipedia.org/wiki/Democratic_Party_(United_States)"
    )
    assert party["aliases"] == ["Demokratische Partei", "United States Democratic Party"]
    assert "G" not in profiles["Q95"]["aliases"]  # one letter
    assert profiles["Q95"]["summary"].startswith("Google (founded 1998): American multinational")


def test_languages_choose_the_name_and_the_wikipedia_link() -> None:
    profiles = {p["id"]: p for p in _run(FIXTURE, languages=("de", "en"))[0]}
    party = profiles["Q29552"]
    assert party["name"] == "Demokratische Partei"
    assert party["sources"][1]["url"].startswith(
        "https://de.wikipedia.org/wiki/Demokratische_Partei"
    )


def test_prior_is_log_scaled_and_orders_by_sitelinks() -> None:
    assert prior_from_sitelinks(0) == 0.0
    assert prior_from_sitelinks(2) < prior_from_sitelinks(50) < prior_from_sitelinks(300) <= 1.0
    assert prior_from_sitelinks(10_000) == 1.0


def test_useless_aliases_are_dropped() -> None:
    kept = useful_aliases("Apple Inc.", ["Apple", "A", "1976", "the", "APPLE INC.", "AAPL"],
                          frozenset({"the"}))  # fmt: skip
    assert kept == ["Apple", "AAPL"]


def test_truncated_gzip_is_a_counted_skip_with_a_line_number(tmp_path: Path) -> None:
    whole = _compressed(tmp_path, "gz").read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    profiles, report = _run(cut)
    assert report.skipped[TRUNCATED] == 1
    line, reason = report.problems[-1]
    assert line > 1 and "ends early" in reason
    assert not report.completed
    assert {p["id"] for p in profiles} <= set(KEPT)


def test_truncated_bz2_is_a_counted_skip(tmp_path: Path) -> None:
    whole = _compressed(tmp_path, "bz2").read_bytes()
    cut = tmp_path / "cut.json.bz2"
    cut.write_bytes(whole[: len(whole) // 2])
    _profiles, report = _run(cut)
    assert report.skipped[TRUNCATED] == 1 and not report.completed


def test_broken_line_and_missing_labels_are_counted_with_line_numbers(tmp_path: Path) -> None:
    lines = FIXTURE.read_bytes().splitlines()
    adams = orjson.loads(lines[3].rstrip(b","))
    adams["labels"] = {"fr": {"language": "fr", "value": "Douglas Adams"}}
    lines[3] = orjson.dumps(adams) + b","
    lines[4] = lines[4][:200]  # Veronica Roth, cut in the middle
    dump = tmp_path / "bad.json"
    dump.write_bytes(b"\n".join(lines) + b"\n")
    profiles, report = _run(dump)
    assert [p["id"] for p in profiles] == ["Q95", "Q29552"]
    assert report.skipped[NO_LABEL] == 1 and report.skipped[INVALID] == 1
    assert [line for line, _ in report.problems] == [4, 5]


def test_sitelinks_as_an_empty_list_is_no_sitelinks(tmp_path: Path) -> None:
    lines = FIXTURE.read_bytes().splitlines()
    adams = orjson.loads(lines[3].rstrip(b","))
    adams["sitelinks"] = []
    lines[3] = orjson.dumps(adams) + b","
    dump = tmp_path / "list.json"
    dump.write_bytes(b"\n".join(lines) + b"\n")
    adams_profile = _run(dump)[0][0]
    assert adams_profile["prior"] == 0.0 and len(adams_profile["sources"]) == 1


def test_since_revision_and_limit() -> None:
    profiles, report = _run(FIXTURE, since_revision=1_000_000_000)
    # Q42's revision is older; records without lastrevid (Veronica Roth, and the Google and
    # Democratic Party records, whose revisions are unknown) cannot be judged old.
    assert [p["id"] for p in profiles] == ["Q328212", "Q95", "Q29552"]
    assert report.skipped["not newer than --since-revision"] == 1
    limited, report = _run(FIXTURE, limit=2)
    assert [p["id"] for p in limited] == ["Q42", "Q328212"] and not report.completed


def test_stdin_is_read_once_without_a_second_pass() -> None:
    script = (
        "import sys, json\n"
        "from newsworker.stages.wikidata.classes import load_class_filter, load_common_words\n"
        "from newsworker.stages.wikidata.scan import ScanOptions, ScanReport, wikidata_profiles\n"
        "r = ScanReport()\n"
        "o = ScanOptions(load_class_filter(), load_common_words(), ('en',))\n"
        "ids = [p['id'] for p in wikidata_profiles('-', o, r)]\n"
        "print(json.dumps([ids, r.second_pass, r.labels_unresolved]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=FIXTURE.read_bytes(),
                          capture_output=True, check=True)  # fmt: skip
    ids, second_pass, unresolved = orjson.loads(done.stdout)
    assert ids == KEPT
    # Q30 and Q36180 came before the people who want them: from stdin they stay unresolved.
    assert second_pass is False and unresolved == 3


def test_a_class_file_changes_what_is_kept(tmp_path: Path) -> None:
    classes = tmp_path / "classes.txt"
    classes.write_text("# only parties\nQ7278  # political party\n", encoding="utf-8")
    profiles, _ = _run(FIXTURE, class_filter=load_class_filter(classes))
    assert [p["id"] for p in profiles] == ["Q42", "Q328212", "Q29552"]
    classes.write_text("not-a-qid\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a QID"):
        load_class_filter(classes)
