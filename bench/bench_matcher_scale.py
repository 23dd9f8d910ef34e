"""Scale benchmark of the entity matcher: build time, memory in a 2-child fork pool, throughput.

Usage: .venv/bin/python bench/bench_matcher_scale.py [--aliases 1000000] [--articles 4000]
Also runs the everyday case of 10,000 profiles unless --skip-small is given.
--priors sets which synthetic profiles carry a popularity prior: "mixed" (people a uniform
prior, organisations none), "none", or "sitelinks" (every profile, log-scaled from a heavy-tailed
sitelink count, as the Wikidata import writes it).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json

from sqlmodel import Session, SQLModel

import newsworker.storage.models  # noqa: F401  (registers the tables)
from newsworker.stages.enrich import EntityMatcher, MatchableProfile
from newsworker.stages.wikidata.profile import prior_from_sitelinks
from newsworker.storage.db import create_db_engine
from newsworker.storage.profiles import import_profiles


def words(text: str) -> list[str]:
    """Split a word list written as one string."""
    return text.split()


SYLLABLES = words(
    "ka ri mo sa le na to vi el an or be da go hu ji ko lu ma ne pa qu ro su ta ul va we xi ya zo "
    "ber mar lin son ton ham ley ford well ström müll gar cía ñez şah öz çe ğan ić ová ł ø é à"
)
WORDS = words(
    "the government said on tuesday that talks would continue as officials met in the capital "
    "to discuss trade energy security and the economy while markets rose and analysts expected "
    "further changes before the end of the year according to people familiar with the matter"
)
ORG_SUFFIX = ("Group", "Holdings", "Bank", "Corporation", "Foundation", "Institute", "Party")


def synthetic_name(rng: random.Random) -> str:
    """A capitalised word of 2-3 syllables, some with diacritics."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


PRIOR_MODES = ("mixed", "none", "sitelinks")
MAX_SITELINKS = 400  # about the most-linked Wikidata items


def sitelink_prior(rng: random.Random) -> float:
    """The import's prior for a heavy-tailed (Pareto) sitelink count: most 1-3, a few hundreds."""
    return prior_from_sitelinks(min(MAX_SITELINKS, int(rng.paretovariate(1.0))))


def synthetic_profiles(
    alias_target: int, seed: int = 7, priors: str = "mixed"
) -> list[MatchableProfile]:
    """About alias_target aliases over about alias_target / 3.3 profiles."""
    rng = random.Random(seed)
    # A second generator, so that names and articles are the same in every prior mode.
    prior_rng = random.Random(seed + 1)
    profiles: list[MatchableProfile] = []
    aliases = 0
    while aliases < alias_target:
        index = len(profiles)
        if rng.random() < 0.65:
            given, family = synthetic_name(rng), synthetic_name(rng)
            name = f"{given} {family}"
            extra = (f"{given[0]}. {family}", f"{given}-{family}", f"{family} {given}")
            profile = MatchableProfile(f"Q{index}", "person", name, extra, rng.random())
        else:
            head = synthetic_name(rng)
            name = f"{head} {synthetic_name(rng)} {rng.choice(ORG_SUFFIX)}"
            acronym = "".join(w[0] for w in name.split()).upper() + str(index % 97)
            extra = (f"{head} {rng.choice(ORG_SUFFIX)}", acronym)
            profile = MatchableProfile(f"Q{index}", "organization", name, extra, None)
        if priors == "none":
            profile = dataclasses.replace(profile, prior=None)
        elif priors == "sitelinks":
            profile = dataclasses.replace(profile, prior=sitelink_prior(prior_rng))
        profiles.append(profile)
        aliases += 1 + len(profile.aliases)
    return profiles


def synthetic_articles(profiles: list[MatchableProfile], count: int, seed: int = 11) -> list[str]:
    """Distinct ~4 KB articles with about a dozen mentions each."""
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        parts: list[str] = [f"Report {number}."]
        size = 0
        while size < 4000:
            sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18)))
            if rng.random() < 0.25:
                profile = rng.choice(profiles)
                sentence = f"{profile.name} {sentence}"
            else:
                sentence = sentence.capitalize()
            parts.append(sentence + ".")
            size += len(sentence) + 2
        articles.append(" ".join(parts))
    return articles


def memory_kb(pid: int | str = "self") -> dict[str, int]:
    """Rss, Pss and USS (private pages) of a process, from /proc/<pid>/smaps_rollup, in kB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key.strip()] = int(rest.split()[0])
    values["Uss"] = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return values


def peak_rss_kb() -> int:
    """VmHWM: the peak resident set of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def fork_pool(matcher: EntityMatcher, articles: list[str], children: int = 2) -> dict[str, float]:
    """Fork children that match articles; report their memory while they still run."""
    read_fd, write_fd = os.pipe()
    go_read, go_write = os.pipe()
    pids = []
    for child in range(children):
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            for text in articles[child::children]:
                matcher.match(text)
            os.write(write_fd, b"x")
            os.read(go_read, 1)  # wait until the parent has measured us
            os._exit(0)
        pids.append(pid)
    for _ in pids:
        os.read(read_fd, 1)
    parent = memory_kb()
    kids = [memory_kb(pid) for pid in pids]
    os.write(go_write, b"x" * len(pids))
    for pid in pids:
        os.waitpid(pid, 0)
    return {
        "parent_rss_mb": parent["Rss"] / 1024,
        "parent_pss_mb": parent["Pss"] / 1024,
        "child_rss_mb": max(k["Rss"] for k in kids) / 1024,
        "child_pss_mb": max(k["Pss"] for k in kids) / 1024,
        "child_uss_mb": max(k["Uss"] for k in kids) / 1024,
        "pool_pss_mb": (parent["Pss"] + sum(k["Pss"] for k in kids)) / 1024,
    }


def run(alias_target: int, article_count: int, priors: str = "mixed") -> None:
    """Benchmark one store size and print its figures."""
    profiles = synthetic_profiles(alias_target, priors=priors)
    articles = synthetic_articles(profiles, article_count)
    gc.collect()
    base_kb = memory_kb()["Rss"]
    started, started_cpu = time.perf_counter(), time.process_time()
    matcher = EntityMatcher.build(profiles)
    build_s = time.perf_counter() - started
    build_cpu_s = time.process_time() - started_cpu
    after_build = memory_kb()["Rss"]
    print(
        f"store: {len(profiles):,} profiles, {matcher.alias_count:,} alias entries "
        f"({matcher.pattern_count:,} patterns)"
    )
    print(
        f"build: {build_s:.2f} s wall, {build_cpu_s:.2f} s CPU; "
        f"matcher adds {(after_build - base_kb) / 1024:.0f} MB RSS"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "matcher.bin"
        matcher.save(path)
        articles_path = Path(folder) / "articles.txt"
        articles_path.write_text("\x1e".join(articles[:1000]), encoding="utf-8")
        # A fresh process, like a worker parent: load the build, fork two children, measure.
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--pool-from",
                str(path),
                "--pool-articles",
                str(articles_path),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        print(output.strip())
    del profiles
    gc.collect()
    gc.freeze()  # what the worker parent does before forking: keep pages shared
    for text in articles[:50]:
        matcher.match(text)
    # CPU time of this process is the per-core figure. Three passes over the distinct articles;
    # the best and the median are printed, since other processes on the box inflate CPU time too.
    rates = []
    found = 0
    for _ in range(3):
        started = time.process_time()
        found = 0
        for text in articles:
            found += len(matcher.match(text))
        rates.append(len(articles) / (time.process_time() - started))
    rates.sort()
    mean_kb = sum(len(a) for a in articles) / len(articles) / 1024
    print(
        f"throughput: {rates[-1]:,.0f} articles/s on one core, best of 3 "
        f"(median {rates[1]:,.0f}; {mean_kb:.1f} KB each, {found / len(articles):.1f} "
        "entities/article)"
    )
    print(f"peak RSS of the building process: {peak_rss_kb() / 1024:.0f} MB")
    gc.unfreeze()


def pool_from(path: Path, articles_path: Path) -> None:
    """Worker-like process: load a persisted build, fork a 2-child pool, print memory."""
    base = memory_kb()["Rss"]
    started = time.perf_counter()
    matcher = EntityMatcher.load(path)
    load_s = time.perf_counter() - started
    articles = articles_path.read_text(encoding="utf-8").split("\x1e")
    gc.collect()
    gc.freeze()
    print(
        f"persisted load: {load_s:.2f} s ({path.stat().st_size / 2**20:.0f} MB file), "
        f"process RSS {base / 1024:.0f} MB before, {memory_kb()['Rss'] / 1024:.0f} MB after"
    )
    pool = fork_pool(matcher, articles)
    print(
        "2-child pool: parent RSS {parent_rss_mb:.0f} MB, child RSS {child_rss_mb:.0f} MB "
        "(USS {child_uss_mb:.0f} MB, PSS {child_pss_mb:.0f} MB), "
        "pool PSS total (parent + 2 children) {pool_pss_mb:.0f} MB".format(**pool)
    )


def bench_import(count: int, database_url: str) -> None:
    """Time import_profiles of count synthetic profiles (JSON Lines), then a no-change re-import."""

    profiles = synthetic_profiles(count * 4)[:count]
    lines = [
        json.dumps(
            {
                "id": p.id,
                "type": p.type,
                "name": p.name,
                "aliases": list(p.aliases),
                "summary": f"{p.name} is a synthetic profile. It has two sentences.[1]",
                "sources": [{"title": p.name, "url": f"https://example.org/{p.id}"}],
                "prior": p.prior,
            },
            ensure_ascii=False,
        )
        for p in profiles
    ]
    engine = create_db_engine(database_url)
    SQLModel.metadata.create_all(engine)
    for label in ("first import", "re-import, unchanged"):
        with Session(engine) as session:
            started = time.perf_counter()
            report = import_profiles(session=session, lines=lines)
            elapsed = time.perf_counter() - started
        print(
            f"{label}: {count:,} profiles in {elapsed:.1f} s ({count / elapsed:,.0f}/s); "
            f"created {report.created:,}, updated {report.updated:,}, "
            f"unchanged {report.unchanged:,}, rejected {len(report.rejected)}"
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--aliases", type=int, default=1_000_000)
    parser.add_argument("--articles", type=int, default=4000)
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--priors", choices=PRIOR_MODES, default="mixed")
    parser.add_argument("--import-profiles", type=int, metavar="N", help="time a store import")
    parser.add_argument("--database-url", default="sqlite:///./bench-profiles.db")
    parser.add_argument("--pool-from", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pool-articles", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_profiles:
        bench_import(args.import_profiles, args.database_url)
        return
    if args.pool_from:
        pool_from(args.pool_from, args.pool_articles)
        return
    # CPU time still grows when other processes share the cores and caches: say how busy it was.
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"== {args.aliases:,} aliases, priors {args.priors} ==")
    run(args.aliases, args.articles, args.priors)
    if not args.skip_small:
        print("== 10,000 profiles ==")
        run(33_000, args.articles, args.priors)
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
