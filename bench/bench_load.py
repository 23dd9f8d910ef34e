"""Load through the real fleet versus eager, and worker memory with many aliases.

Run from the repo root (needs Redis 127.0.0.1:6379 and PostgreSQL 127.0.0.1:5432, db `test`):
    .venv/bin/python bench/bench_load.py                       # 2,000 feeds x 50, 1M aliases
    .venv/bin/python bench/bench_load.py --quick               # 100 feeds x 50, 100k aliases
    .venv/bin/python bench/bench_load.py --feeds 500 --entries 50 --aliases 1000000

Feeds are `bench/corpus.py` bodies (some articles name some profiles), served from files by a
local `http.server` on 127.0.0.1. Profiles are synthetic (`bench/bench_matcher_scale.py`, about
3.3 aliases each) imported with `newsworker profiles import`. Each side gets a PostgreSQL schema
of its own (dropped after) and Redis db 9 (flushed):

- fleet: a real `newsworker worker --concurrency 2` (prefork: 2 children), `newsworker dispatch
  --all`; stories/s = stories on the Redis Stream / seconds from the dispatch to the last one;
- eager: `run_once(all_feeds=True)` from this process (the `newsworker run --once --all` path,
  with its prepare and publisher processes; `--eager-prepare-processes 0` keeps it in one
  process), same database kind, same stream sink; stories/s = published stories / seconds.

Then the ratio fleet/eager (target >= 0.85), and the RSS / PSS / USS of each worker child from
/proc/<pid>/smaps_rollup after the run (target < 512 MB per child).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import redis
from sqlalchemy import text

import bench.corpus
from bench.bench_fleet_round import (
    REDIS,
    bench_env,
    cpu_seconds,
    eager_runtime,
    polled_since,
    postgres_schema,
    redis_db9,
    register_feeds,
)
from bench.bench_matcher_scale import synthetic_profiles
from bench.bench_pipeline import children_cpu_seconds, mention_profiles
from bench.corpus import generate_corpus
from newsworker.storage.db import dispose_engines, session_for
from newsworker.storage.models import utcnow
from newsworker.tasks.runtime import set_runtime
from newsworker.worker.running import run_once
from tests.support.fleet import child_pids, run_cli, start_worker, wait_for

STREAM = "bench:stories"


def write_profiles(path: Path, alias_target: int) -> list[dict[str, object]]:
    """Synthetic profiles with about alias_target aliases, as JSON Lines; returns the rows."""
    rows: list[dict[str, object]] = []
    with path.open("w", encoding="utf-8") as handle:
        for profile in synthetic_profiles(alias_target):
            row: dict[str, object] = {
                "id": profile.id,
                "type": profile.type,
                "name": profile.name,
                "aliases": list(profile.aliases),
                "summary": f"{profile.name} is a synthetic {profile.type} for the load bench.",
                "sources": [
                    {"title": profile.name, "url": f"https://profiles.example/{profile.id}"}
                ],
            }
            handle.write(json.dumps(row) + "\n")
            rows.append(row)
    return rows


@contextmanager
def file_server(directory: Path) -> Iterator[int]:
    """`python -m http.server` on 127.0.0.1 over directory; yields its port."""
    port_probe = __import__("socket").socket()
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _up(httpx, port), timeout=10, interval=0.1)
        yield port
    finally:
        server.terminate()
        server.wait()


def _up(httpx: object, port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)  # type: ignore[attr-defined]
    except Exception:  # any failure means not up yet
        return False
    return True


def memory_mb(pid: int) -> dict[str, float]:
    """Rss, Pss and Uss (private) of a process in MB, from smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key.strip()] = int(rest.split()[0])
    uss = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return {"rss": values["Rss"] / 1024, "pss": values["Pss"] / 1024, "uss": uss / 1024}


def stream_length() -> int:
    """Entries on the bench stream."""
    client = redis.Redis.from_url(REDIS)
    try:
        return int(client.xlen(STREAM))
    finally:
        client.close()


def last_stream_ms() -> int:
    """Time (ms since the epoch) of the newest stream entry."""
    client = redis.Redis.from_url(REDIS)
    try:
        newest = client.xrevrange(STREAM, count=1)
        return int(newest[0][0].split(b"-")[0]) if newest else 0
    finally:
        client.close()


EVENTS_SEEN: dict[str, dict[str, list[str]]] = {}


def audit(database_url: str) -> dict[str, int]:
    """Stories in the store against what reached the stream: the at-least-once check."""
    counts: dict[str, int] = {}
    with session_for(database_url) as session:
        for name, sql in (
            ("stored stories", "SELECT count(*) FROM stories"),
            ("stored articles", "SELECT count(*) FROM articles"),
            ("outbox events", "SELECT count(*) FROM outbox_events"),
            ("events not yet sent", "SELECT count(*) FROM deliveries WHERE status <> 'sent'"),
        ):
            counts[name] = int(session.execute(text(sql)).scalar_one())
    client = redis.Redis.from_url(REDIS)
    try:
        story_ids: set[bytes] = set()
        versions: set[tuple[bytes, bytes]] = set()
        entries = 0
        start = "-"
        while batch := client.xrange(STREAM, min=start, max="+", count=10_000):
            for _entry_id, fields in batch:
                entries += 1
                story_ids.add(fields[b"story_id"])
                versions.add((fields[b"story_id"], fields[b"revision"]))
                EVENTS_SEEN.setdefault(database_url, {}).setdefault(
                    fields[b"story_id"].decode(), []
                ).append(fields[b"event"].decode() + ":" + fields[b"revision"].decode())
            start = "(" + batch[-1][0].decode()
    finally:
        client.close()
    counts["stream entries"] = entries
    counts["distinct story ids on the stream"] = len(story_ids)
    counts["distinct (story id, revision) on the stream"] = len(versions)
    return counts


def prepare(database_url: str, workdir: Path, profiles: Path, urls: list[str]) -> dict[str, str]:
    """Migrate, import the profiles and register the feeds; returns the environment."""
    env = bench_env(database_url, workdir, stream_name=STREAM)
    run_cli(env, "db", "upgrade")
    started = time.perf_counter()
    run_cli(env, "profiles", "import", str(profiles), timeout=3600)
    print(f"  profile import: {time.perf_counter() - started:.1f} s", flush=True)
    register_feeds(database_url, urls)
    return env


def fleet_side(
    workdir: Path, profiles: Path, urls: list[str], concurrency: int = 2
) -> dict[str, object]:
    """The real fleet over the corpus; stories/s to the stream and the children's memory."""
    with postgres_schema() as database_url, redis_db9():
        env = prepare(database_url, workdir, profiles, urls)
        started_worker = time.perf_counter()
        worker = start_worker(env, workdir / "worker.log", "--concurrency", str(concurrency))
        ready = time.perf_counter() - started_worker
        try:
            cpu_before = sum(cpu_seconds(pid) for pid in child_pids(worker.popen.pid))
            since = utcnow()
            started_ms = time.time() * 1000
            run_cli(env, "dispatch", "--all")
            wait_for(
                lambda: polled_since(database_url, since) >= len(urls), timeout=7200, interval=0.5
            )
            # Then until the publisher has drained the outbox (the stream stops growing).
            length = -1
            while stream_length() != length:
                length = stream_length()
                time.sleep(6)  # no beat here: each poll that stores stories enqueues a publish
            seconds = (last_stream_ms() - started_ms) / 1000
            children = {pid: memory_mb(pid) for pid in child_pids(worker.popen.pid)}
            parent = memory_mb(worker.popen.pid)
            cpu = sum(cpu_seconds(pid) for pid in children) - cpu_before
        finally:
            worker.stop()
        counts = audit(database_url)
    # Stories are distinct story ids; stream entries also hold each story's "updated" events
    # (copies joining it) and, delivery being at-least-once, may hold repeats.
    stories = counts["distinct story ids on the stream"]
    return {"stories": stories, "seconds": seconds, "children": children, "parent": parent,
            "ready_seconds": ready, "cpu": cpu, "audit": counts}  # fmt: skip


def eager_side(
    workdir: Path, profiles: Path, urls: list[str], prepare_processes: int | None
) -> dict[str, Any]:
    """`run_once(all_feeds=True)` from this process over the same corpus and sinks.

    As `newsworker run` does it: with NEWSWORKER_PREPARE_PROCESSES prepare processes (None: the
    setting's default, CPUs - 1) and a publisher process; 0 keeps the whole round in this one.
    """
    with postgres_schema() as database_url, redis_db9():
        prepare(database_url, workdir, profiles, urls)
        runtime = eager_runtime(
            database_url, workdir / "eager.jsonl", STREAM, prepare_processes=prepare_processes
        )
        with runtime.session() as session:
            runtime.matchers.get(session)  # a worker builds it before forking, outside the run
        children_before = children_cpu_seconds()
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = run_once(runtime, all_feeds=True)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # Its prepare and publisher processes are reaped by the end of the round: counted too.
        cpu += children_cpu_seconds() - children_before
        set_runtime(None)
        dispose_engines()
        counts = audit(database_url)
        stories = counts["distinct story ids on the stream"]
    return {"stories": stories, "seconds": seconds, "published": summary.published, "cpu": cpu,
            "audit": counts}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=50, help="entries per feed")
    parser.add_argument("--aliases", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100 feeds, 100,000 aliases")
    parser.add_argument("--skip-eager", action="store_true")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="pool children (1: Celery's cost without contention)",
    )
    parser.add_argument(
        "--eager-prepare-processes",
        type=int,
        default=None,
        help="the eager round's NEWSWORKER_PREPARE_PROCESSES (default CPUs - 1; 0: one process)",
    )
    args = parser.parse_args()
    if args.quick:
        args.feeds, args.aliases = 100, 100_000
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        workdir = Path(tmp)
        feeds_dir = workdir / "feeds"
        feeds_dir.mkdir()
        rows = write_profiles(workdir / "profiles.jsonl", args.aliases)
        print(f"profiles: {len(rows)} with about {args.aliases} aliases", flush=True)
        bench.corpus.ENTRIES_PER_FEED = args.entries  # the generator reads it per call
        bodies = generate_corpus(args.feeds * args.entries)
        bodies = mention_profiles(bodies, rows[:: max(1, len(rows) // 5000)])
        for number, body in enumerate(bodies[: args.feeds]):
            (feeds_dir / f"{number}.xml").write_bytes(body)
        print(f"corpus: {args.feeds} feeds x {args.entries} entries", flush=True)
        with file_server(feeds_dir) as port:
            urls = [f"http://127.0.0.1:{port}/{n}.xml" for n in range(args.feeds)]
            print("fleet side", flush=True)
            fleet = fleet_side(workdir, workdir / "profiles.jsonl", urls, args.concurrency)
            eager = None
            if not args.skip_eager:
                print("eager side", flush=True)
                eager = eager_side(
                    workdir, workdir / "profiles.jsonl", urls, args.eager_prepare_processes
                )
    fleet_rate = float(fleet["stories"]) / float(fleet["seconds"])  # type: ignore[arg-type]
    pool = f"1 worker, {args.concurrency} children"
    print(f"fleet ({pool}, PostgreSQL, Redis): {fleet['stories']} stories in "
          f"{fleet['seconds']:.1f} s = {fleet_rate:.0f} stories/s "
          f"(worker ready after {fleet['ready_seconds']:.1f} s)")  # fmt: skip
    if eager is not None:
        eager_rate = eager["stories"] / eager["seconds"]
        shape = (
            "1 process"
            if args.eager_prepare_processes == 0
            else "prepare and publisher processes beside it"
        )
        print(f"eager (run_once --all, {shape}, PostgreSQL, Redis): {eager['stories']:.0f} "
              f"stories in {eager['seconds']:.1f} s = {eager_rate:.0f} stories/s")  # fmt: skip
        print(f"ratio fleet/eager: {fleet_rate / eager_rate:.2f}  (target >= 0.85)")
        fleet_cpu = float(fleet["stories"]) / float(fleet["cpu"])  # type: ignore[arg-type]
        eager_cpu = eager["stories"] / eager["cpu"]
        ratio = fleet_cpu / eager_cpu
        print(f"stories per CPU second (worker children / eager processes, database and Redis "
              f"excluded): {fleet_cpu:.0f} / {eager_cpu:.0f} = {ratio:.2f}")  # fmt: skip
    parent = fleet["parent"]
    print(f"worker parent: RSS {parent['rss']:.0f} MB, PSS {parent['pss']:.0f} MB")  # type: ignore[index]
    for pid, mem in fleet["children"].items():  # type: ignore[attr-defined]
        print(f"worker child {pid}: RSS {mem['rss']:.0f} MB, PSS {mem['pss']:.0f} MB, "
              f"USS {mem['uss']:.0f} MB  (target < 512 MB)")  # fmt: skip
    for side, result in (("fleet", fleet), ("eager", eager)):
        if result is not None:
            audited = ", ".join(f"{k} {v}" for k, v in result["audit"].items())  # type: ignore[union-attr]
            print(f"{side} audit: {audited}")
    print(f"cpu count: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
