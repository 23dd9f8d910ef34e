"""Whole pipeline versus feedparser alone, on the same bytes.

Run from the repo root:
    .venv/bin/python bench/bench_pipeline.py [--repeat 3] [--entries 10000] [--profiles 10000]

(a) default `feedparser.parse` on every feed body of a `bench/corpus.py` corpus;
(b) our whole eager pipeline on the same bodies, on SQLite: `newsworker.worker.running.run_once`
over file:// feeds, as `newsworker run --once` runs it: read, parse, normalize, dedupe, enrich
against the profiles, store the articles, stories and outbox, and publish every story to the JSON
Lines sink. Parse, normalize and entity matching run in NEWSWORKER_PREPARE_PROCESSES processes (by
default one fewer than the CPUs) and a publisher process relays stories as feeds commit, while the
main process stores feeds in order. Prints both times and the ratio (a)/(b) for --repeat
alternating pairs, then the median ratio; the target is >= 1.25. It also prints the ratio by CPU
time of all of (b)'s processes, which says what the pipeline costs rather than how long it takes.
The entity matcher is built before the timed run (a worker builds it once at start) and its build
time is printed apart. `--profile-out FILE` writes a cProfile of (b)'s main process. `--postgres`
runs (b) on PostgreSQL instead (the fleet's database, in a schema of its own; the target is for
SQLite)."""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from bench.bench_fleet_round import postgres_schema
from bench.corpus import generate_corpus
from newsworker.config.settings import load_settings
from newsworker.stages.normalize.language import detect_language
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import close_engine, session_for
from newsworker.storage.migrate import upgrade
from newsworker.storage.profiles import import_profiles
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.running import run_once

GIVEN = "Amara Bruno Chen Dalia Emil Farah Goran Hana Ivo Jana Kofi Lena Mateo Nadia Omar Petra"
FAMILY = "Okafor Lindqvist Moreau Tanaka Novak Haddad Silva Kowalski Brennan Castellano Ibsen"
SYLLABLES = [
    "ka",
    "ri",
    "mo",
    "sa",
    "le",
    "na",
    "to",
    "vi",
    "el",
    "an",
    "or",
    "be",
    "da",
    "go",
    "hu",
    "ji",
    "ko",
    "lu",
    "ma",
    "ne",
    "pa",
    "ro",
    "su",
    "ta",
    "ul",
    "va",
]
ORG_SUFFIX = ("Group", "Holdings", "Bank", "Corporation", "Foundation", "Institute", "Party")
CONTENT_START = "<content:encoded><![CDATA[<p>"


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def synthetic_profile_rows(count: int, seed: int = 7) -> Iterator[dict[str, object]]:
    """count profile records (65% people, the rest organizations) as the importer reads them."""
    rng = random.Random(seed)
    given, family = GIVEN.split(), FAMILY.split()
    for index in range(count):
        if rng.random() < 0.65:
            name = f"{rng.choice(given)} {_word(rng)}{rng.choice(family).lower()}"
            kind, aliases = "person", [f"{name.split(maxsplit=1)[0][0]}. {name.split()[1]}"]
        else:
            name = f"{_word(rng)} {_word(rng)} {rng.choice(ORG_SUFFIX)}"
            kind, aliases = "organization", ["".join(w[0] for w in name.split()) + str(index)]
        yield {
            "id": f"Q{900000 + index}",
            "type": kind,
            "name": name,
            "aliases": aliases,
            "summary": f"{name} is a synthetic {kind} used by the benchmarks, number {index}.",
            "sources": [{"title": name, "url": f"https://profiles.example/{index}"}],
        }


def profile_lines(rows: list[dict[str, object]]) -> list[str]:
    """JSON Lines for import_profiles."""
    return [json.dumps(row) for row in rows]


def mention_profiles(
    bodies: list[bytes], rows: list[dict[str, object]], share: float = 0.6, seed: int = 3
) -> list[bytes]:
    """Open about `share` of the articles with a sentence naming one to three profiles."""
    rng = random.Random(seed)
    names = [str(row["name"]) for row in rows]

    def lead(_: re.Match[str]) -> str:
        if rng.random() >= share:
            return CONTENT_START
        picked = rng.sample(names, rng.randint(1, 3))
        return f"{CONTENT_START}{' and '.join(picked)} said on Tuesday that talks would go on. "

    return [re.sub(re.escape(CONTENT_START), lead, b.decode()).encode() for b in bodies]


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's children that have ended and been reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_feedparser(bodies: list[bytes]) -> tuple[float, float, int]:
    """Wall and CPU seconds of default feedparser.parse over every body, and its entries."""
    started, cpu_started = time.perf_counter(), time.process_time()
    entries = sum(len(feedparser.parse(body).entries) for body in bodies)
    return time.perf_counter() - started, time.process_time() - cpu_started, entries


def seed_store(
    database_url: str, bodies: list[bytes], rows: list[dict[str, object]], workdir: Path
) -> None:
    """Migrate the store, import the profiles, and add each body as a file:// feed in workdir."""
    upgrade(database_url)
    with session_for(database_url) as session:
        import_profiles(session=session, lines=profile_lines(rows))
        for number, body in enumerate(bodies):
            path = workdir / f"feed-{number}.xml"
            path.write_bytes(body)
            feed_store.add_feed(session=session, url=path.as_uri())
        session.commit()


def run_pipeline(
    bodies: list[bytes],
    rows: list[dict[str, object]],
    workdir: Path,
    profile_out: str | None,
    database_url: str | None = None,
) -> dict[str, float]:
    """The eager pipeline over file:// feeds on a fresh SQLite store; returns its figures."""
    settings = load_settings(
        database_url=database_url or f"sqlite:///{workdir / 'bench.db'}",
        broker_url=None,
        redis_url=None,
        jsonl_path=workdir / "stories.jsonl",
        allow_file_urls=True,
        allow_private_addresses=True,
    )
    seed_store(settings.database_url, bodies, rows, workdir)
    runtime = build_runtime(settings)
    set_runtime(runtime)
    with runtime.session() as session:
        started = time.perf_counter()
        runtime.matchers.get(session)
        build_seconds = time.perf_counter() - started
    # A worker loads the language model once per process too (about 1-4 s): not per run.
    detect_language("warm up the language model once, as a worker process does at its start")
    profiler = cProfile.Profile() if profile_out else None
    children_started = children_cpu_seconds()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    summary = run_once(runtime, all_feeds=True)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_out)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    # The prepare processes are reaped when run_once closes its pool: their CPU counts here.
    children_cpu = children_cpu_seconds() - children_started
    lines = sum(1 for _ in (workdir / "stories.jsonl").open(encoding="utf-8"))
    set_runtime(None)
    # Closed, not only dropped: open connections to deleted files kept their page caches, and
    # each later pair forked a bigger process.
    close_engine(settings.database_url)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "children_cpu_seconds": children_cpu,
        "build_seconds": build_seconds,
        "feeds": summary.feeds,
        "entries": summary.entries,
        "new": summary.new_stories,
        "duplicates": summary.duplicates,
        "entities": summary.entities,
        "errors": summary.errors,
        "published": summary.published,
        "jsonl_lines": lines,
    }


def _run_b(
    bodies: list[bytes], rows: list[dict[str, object]], args: argparse.Namespace
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        if args.postgres:
            with postgres_schema() as url:
                return run_pipeline(bodies, rows, Path(tmp), args.profile_out, url)
        return run_pipeline(bodies, rows, Path(tmp), args.profile_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="time (a) then (b) this many times, alternating, and report the median ratio",
    )
    parser.add_argument("--profile-out", help="write a cProfile of the pipeline run here")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run (b) on PostgreSQL 127.0.0.1 db test, in a schema of its own, not on SQLite",
    )
    args = parser.parse_args()
    rows = list(synthetic_profile_rows(args.profiles))
    bodies = mention_profiles(generate_corpus(args.entries, seed=args.seed), rows)
    size = sum(len(b) for b in bodies)
    print(f"corpus: {len(bodies)} feeds, {args.entries} entries, {size / 1e6:.1f} MB")
    # The machine's speed drifts by 10-20% over minutes: (a) and (b) alternate, and each pair
    # gives a ratio of two neighbouring measurements; the median of those is the figure.
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    for attempt in range(1, args.repeat + 1):
        fp_seconds, fp_cpu, fp_entries = time_feedparser(bodies)
        figures = _run_b(bodies, rows, args)
        print(f"--- pair {attempt} of {args.repeat}")
        print(
            f"(a) feedparser.parse (defaults): {fp_seconds:.2f} s ({fp_cpu:.2f} s CPU), "
            f"{fp_entries} entries"
        )
        print(
            "(b) pipeline: {seconds:.2f} s ({cpu_seconds:.2f} s CPU here, "
            "{children_cpu_seconds:.2f} s in its prepare and publisher processes) for "
            "{feeds} feeds, {entries} entries: {new} new stories, {duplicates} duplicates, "
            "{entities} entities attached, {errors} errors, {published} deliveries published, "
            "{jsonl_lines} JSON lines; matcher built before it in "
            "{build_seconds:.2f} s".format(**figures)
        )
        ratios.append(fp_seconds / figures["seconds"])
        # (b)'s other processes count here: this ratio says what the pipeline costs in CPU,
        # not how long it takes.
        cpu_ratios.append(fp_cpu / (figures["cpu_seconds"] + figures["children_cpu_seconds"]))
        print(
            f"(b) {figures['entries'] / figures['seconds']:.0f} entries/s; "
            f"ratio (a)/(b) {ratios[-1]:.2f}, by CPU time of all processes {cpu_ratios[-1]:.2f}"
        )
    print(
        f"ratio (a)/(b): median {statistics.median(ratios):.2f} of {len(ratios)} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})  (target >= 1.25)"
    )
    print(f"ratio (a)/(b) by CPU time, all processes: median {statistics.median(cpu_ratios):.2f}")


if __name__ == "__main__":
    main()
