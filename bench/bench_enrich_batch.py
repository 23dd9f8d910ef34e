"""Batch enrichment speed: `newsworker enrich --jsonl` on N synthetic articles, as a subprocess.

Usage: .venv/bin/python bench/bench_enrich_batch.py [--profiles 10000] [--articles 2000]
Imports synthetic profiles into a fresh SQLite store, writes articles that name them
(bench_matcher_scale's generators), times the real command on one article (start-up) and on
all of them, and prints start-up time and articles/s after start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, SQLModel

import newsworker.storage.models  # noqa: F401  (registers the tables)
from bench.bench_matcher_scale import synthetic_articles, synthetic_profiles
from newsworker.storage.db import create_db_engine
from newsworker.storage.profiles import import_profiles

ROOT = Path(__file__).resolve().parents[1]


def make_store(url: str, count: int) -> list:
    """Import count synthetic profiles; return them."""
    profiles = synthetic_profiles(count * 4)[:count]
    lines = [
        json.dumps(
            {"id": p.id, "type": p.type, "name": p.name, "aliases": list(p.aliases),
             "summary": f"{p.name} is a synthetic profile.", "prior": p.prior},
            ensure_ascii=False,
        )
        for p in profiles
    ]  # fmt: skip
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        import_profiles(session=session, lines=lines)
    engine.dispose()
    return profiles


def timed_run(path: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds of one `enrich --jsonl` call, and the story lines it printed."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "newsworker.worker.cli", "enrich", "--jsonl", str(path)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    return elapsed, sum(1 for line in result.stdout.splitlines() if '"story_id"' in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'profiles.db'}"
        profiles = make_store(url, args.profiles)
        texts = synthetic_articles(profiles, args.articles)
        lines = [
            json.dumps({"id": f"a{n}", "title": f"Report {n}", "text": text})
            for n, text in enumerate(texts)
        ]
        one, many = Path(folder) / "one.jsonl", Path(folder) / "many.jsonl"
        one.write_text(lines[0] + "\n", encoding="utf-8")
        many.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {**os.environ, "NEWSWORKER_DATABASE_URL": url}
        startup = min(timed_run(one, env)[0] for _ in range(3))
        total, stories = timed_run(many, env)
    if stories != args.articles:
        raise SystemExit(f"expected {args.articles} stories, got {stories}")
    rate = (args.articles - 1) / max(total - startup, 1e-9)
    kb = sum(map(len, texts)) / len(texts) / 1024
    print(f"store: {args.profiles:,} profiles; {args.articles:,} articles of {kb:.1f} KB")
    print(f"start-up (one article, best of 3): {startup:.2f} s")
    print(f"batch: {total:.2f} s for {args.articles:,}; {rate:,.0f} articles/s after start-up")


if __name__ == "__main__":
    main()
