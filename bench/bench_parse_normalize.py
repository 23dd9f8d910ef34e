"""Time default feedparser.parse against our parse_feed + normalize_entry on the same bytes.

Run: .venv/bin/python bench/bench_parse_normalize.py [--entries 10000] [--repeat 3]
Prints entries/s for each and the ratio (feedparser time / our time). Target: >= 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from bench.corpus import generate_corpus
from tasks.normalize import NormalizePolicy, normalize_entry, text_signature
from tasks.parse import parse_feed

FEED_URL = "https://news.example.com/feed.xml"
CONTENT_TYPE = "application/rss+xml; charset=utf-8"


def run_feedparser_default(bodies: list[bytes]) -> int:
    """Parse with feedparser's defaults (sanitizing and URI resolution on)."""
    return sum(len(feedparser.parse(body).entries) for body in bodies)


def run_ours(bodies: list[bytes], *, signatures: bool = False) -> int:
    """parse_feed + normalize_entry (+ optionally the near-duplicate signature)."""
    policy = NormalizePolicy()
    now = datetime.now(UTC)
    count = 0
    for body in bodies:
        feed = parse_feed(body, url=FEED_URL, content_type=CONTENT_TYPE)
        for entry in feed.entries:
            article = normalize_entry(
                entry,
                feed_url=FEED_URL,
                feed_language=feed.language,
                discovered_at=now,
                policy=policy,
            )
            if signatures:
                text_signature(article.text)
            count += 1
    return count


def best_of(repeat: int, func, *args, **kwargs) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Best wall time of repeat runs (the least disturbed by other load on the machine)."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = func(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best, count


def main() -> None:
    """Generate the corpus, time both sides, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bodies = generate_corpus(args.entries)
    size = sum(len(b) for b in bodies)
    print(f"corpus: {len(bodies)} feeds, {args.entries} entries, {size / 1e6:.1f} MB")
    run_ours(bodies[:1])  # load the language model outside the timing

    default_s, default_n = best_of(args.repeat, run_feedparser_default, bodies)
    ours_s, ours_n = best_of(args.repeat, run_ours, bodies)
    signed_s, _ = best_of(args.repeat, run_ours, bodies, signatures=True)
    assert default_n == ours_n == args.entries, (default_n, ours_n)

    print(f"(a) feedparser.parse defaults:        {default_n / default_s:9.0f} entries/s")
    print(f"(b) parse_feed + normalize_entry:     {ours_n / ours_s:9.0f} entries/s")
    print(f"(c) (b) + near-duplicate signature:   {ours_n / signed_s:9.0f} entries/s")
    print(f"ratio (a)/(b) time: {ours_s and default_s / ours_s:.2f}x")
    print(f"ratio (a)/(c) time: {signed_s and default_s / signed_s:.2f}x")


if __name__ == "__main__":
    main()
