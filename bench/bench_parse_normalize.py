"""Time default feedparser.parse against our parse_feed + normalize_entry on the same bytes.

Run: .venv/bin/python bench/bench_parse_normalize.py [--entries 10000] [--repeat 3]
Prints entries/s for each and the ratio (feedparser time / our time). Target: >= 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from bench.corpus import generate_corpus
from newsworker.stages.normalize import NormalizePolicy, normalize_entry, text_signature
from newsworker.stages.parse import parse_feed

FEED_URL = "https://news.example.com/feed.xml"
CONTENT_TYPE = "application/rss+xml; charset=utf-8"


def run_feedparser_default(bodies: list[bytes]) -> int:
    """Parse with feedparser's defaults (sanitizing and URI resolution on)."""
    return sum(len(feedparser.parse(body).entries) for body in bodies)


def run_ours(
    bodies: list[bytes], *, signatures: bool = False, content_type: str | None = CONTENT_TYPE
) -> int:
    """parse_feed + normalize_entry (+ optionally the near-duplicate signature).

    content_type=None keeps parse_feed off its lxml fast path (feedparser for every feed).
    """
    policy = NormalizePolicy()
    now = datetime.now(UTC)
    count = 0
    for body in bodies:
        feed = parse_feed(body, url=FEED_URL, content_type=content_type)
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


def interleaved(
    repeat: int, sides: dict[str, Callable[[list[bytes]], int]], bodies: list[bytes]
) -> dict[str, tuple[float, int]]:
    """Time each side feed by feed, alternating, so load from other processes hits all alike.

    Per side: the best of repeat passes over the corpus (total seconds, entries).
    """
    best = {name: (float("inf"), 0) for name in sides}
    for _ in range(repeat):
        totals = dict.fromkeys(sides, 0.0)
        counts = dict.fromkeys(sides, 0)
        for body in bodies:
            for name, side in sides.items():
                started = time.perf_counter()
                counts[name] += side([body])
                totals[name] += time.perf_counter() - started
        for name in sides:
            if totals[name] < best[name][0]:
                best[name] = (totals[name], counts[name])
    return best


def main() -> None:
    """Generate the corpus, time both sides, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--feedparser-only", action="store_true", help="also time ours without the lxml path"
    )
    args = parser.parse_args()

    bodies = generate_corpus(args.entries)
    size = sum(len(b) for b in bodies)
    print(f"corpus: {len(bodies)} feeds, {args.entries} entries, {size / 1e6:.1f} MB")
    run_ours(bodies[:1])  # load the language model outside the timing

    sides: dict[str, Callable[[list[bytes]], int]] = {
        "a": run_feedparser_default,
        "b": run_ours,
        "c": partial(run_ours, signatures=True),
    }
    if args.feedparser_only:
        sides["d"] = partial(run_ours, content_type=None)
    timings = interleaved(args.repeat, sides, bodies)
    default_s, default_n = timings["a"]
    for name, label in (
        ("b", "parse_feed + normalize_entry"),
        ("c", "(b) + near-duplicate signature"),
        ("d", "(b) with feedparser for every feed"),
    ):
        if name not in timings:
            continue
        seconds, count = timings[name]
        assert count == default_n == args.entries, (name, count, default_n)
        print(f"({name}) {label + ':':40s} {count / seconds:7.0f} entries/s")
    print(f"(a) {'feedparser.parse defaults:':40s} {default_n / default_s:7.0f} entries/s")
    for name in ("b", "c", "d"):
        if name in timings:
            print(f"ratio (a)/({name}) time: {default_s / timings[name][0]:.2f}x")


if __name__ == "__main__":
    main()
