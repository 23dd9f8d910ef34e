"""Poll rounds through the real fleet: 2,000 local feeds, second round 90% 304.

Run from the repo root (needs Redis 127.0.0.1:6379 and PostgreSQL 127.0.0.1:5432, db `test`):
    .venv/bin/python bench/bench_fleet_round.py [--feeds 2000] [--sqlite] [--new-entries 20]

Starts `bench/feed_server.py`, a PostgreSQL schema of its own (dropped after; `--sqlite` uses a
temporary SQLite file instead), Redis db 9 as broker and stream (flushed before and after), and
a real `newsworker worker --concurrency 2` subprocess. Round 1: `newsworker dispatch --all`, all
feeds answer 200. Round 2: the same, 90% answer 304 and 10% have new entries. A round ends when
every feed's last_polled_at is past the dispatch. Prints round seconds and feeds/s, then the same
round polled in this process (`run_once`, eager, one thread) to show the Celery share.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from sqlalchemy import text
from sqlmodel import func, select

from newsworker.config.settings import load_settings
from newsworker.storage.db import create_db_engine, dispose_engines, session_for
from newsworker.storage.models import ArticleRecord, Feed, utcnow
from newsworker.tasks.runtime import Runtime, build_runtime, set_runtime
from newsworker.worker.running import run_once
from tests.support.fleet import child_pids, fleet_env, run_cli, start_worker, wait_for

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/9"
HOST_OVERRIDES = '{"127.0.0.1": 100000}'


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in db `test` (never `public`), dropped on exit; yields its URL."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(POSTGRES, pool=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def redis_db9() -> Iterator[str]:
    """Redis db 9, flushed before and after."""
    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    try:
        yield REDIS
    finally:
        client.flushdb()
        client.close()


@contextmanager
def database(use_sqlite: bool, workdir: Path) -> Iterator[str]:
    """A PostgreSQL schema of our own, or a SQLite file in workdir."""
    if use_sqlite:
        yield f"sqlite:///{workdir / 'bench.db'}"
        dispose_engines()
    else:
        with postgres_schema() as url:
            yield url


@contextmanager
def feed_server(*extra: str) -> Iterator[tuple[int, int]]:
    """bench/feed_server.py in a subprocess; yields its port and pid."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("feed_server.py")), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline().split()[1]), server.pid
    finally:
        server.terminate()
        server.wait()


def bench_env(
    database_url: str, workdir: Path, stream_name: str = "bench:stories", **extra: str
) -> dict[str, str]:
    """Worker and CLI environment: our database, Redis db 9, no host budget on 127.0.0.1."""
    return fleet_env(
        database_url=database_url,
        broker_url=REDIS,
        redis_url=REDIS,
        stream_name=stream_name,
        jsonl_path=str(workdir / "stories.jsonl"),
        allow_private_addresses="true",
        host_requests_per_second_overrides=HOST_OVERRIDES,
        log_level="WARNING",
        # Every feed in one claim batch, as the figures in docs/benchmarks.md were measured.
        dispatch_batch_size="1000000",
        **extra,
    )


def register_feeds(database_url: str, urls: list[str]) -> None:
    """Insert the feeds directly (feeds add would fetch each one)."""
    with session_for(database_url) as session:
        session.add_all(Feed(url=url) for url in urls)
        session.commit()


def polled_since(database_url: str, since: datetime) -> int:
    """How many feeds finished a poll after `since`."""
    with session_for(database_url) as session:
        query = select(func.count()).select_from(Feed).where(Feed.last_polled_at >= since)
        return int(session.exec(query).one())


def article_count(database_url: str) -> int:
    """Stored articles."""
    with session_for(database_url) as session:
        return int(session.exec(select(func.count()).select_from(ArticleRecord)).one())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its direct children (a prefork pool)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in child_pids(pid))


def fleet_round(
    env: dict[str, str], database_url: str, feeds: int, timeout: float
) -> tuple[float, float]:
    """`newsworker dispatch --all`, then wait until every feed polled.

    Returns the round's seconds and the dispatch command's own (a CLI process: start-up, claim,
    enqueue), which is part of the round.
    """
    since = utcnow()
    started = time.perf_counter()
    run_cli(env, "dispatch", "--all")
    dispatched = time.perf_counter() - started
    done = wait_for(
        lambda: polled_since(database_url, since) >= feeds, timeout=timeout, interval=0.05
    )
    seconds = time.perf_counter() - started
    if not done:
        raise SystemExit(f"round not done after {timeout} s: {polled_since(database_url, since)}")
    return seconds, dispatched


def eager_runtime(
    database_url: str, jsonl_path: Path, stream_name: str, prepare_processes: int | None = None
) -> Runtime:
    """This process's runtime as the benches' workers get it: Redis db 9, no budget on 127.0.0.1."""
    settings = load_settings(
        database_url=database_url,
        broker_url=REDIS,
        redis_url=REDIS,
        stream_name=stream_name,
        jsonl_path=jsonl_path,
        allow_private_addresses=True,
        host_requests_per_second_overrides={"127.0.0.1": 100000},
        prepare_processes=prepare_processes,
    )
    runtime = build_runtime(settings)
    set_runtime(runtime)
    return runtime


def eager_round(database_url: str, workdir: Path) -> tuple[float, int]:
    """The same round in this process (`run_once --all`, one thread); seconds and feeds."""
    runtime = eager_runtime(database_url, workdir / "stories-eager.jsonl", "bench:stories")
    with runtime.session() as session:
        runtime.matchers.get(session)
    started = time.perf_counter()
    summary = run_once(runtime, all_feeds=True)
    seconds = time.perf_counter() - started
    set_runtime(None)
    return seconds, summary.feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--no-eager", action="store_true", help="skip the in-process round")
    parser.add_argument(
        "--new-entries",
        type=int,
        default=20,
        help="new items per changed feed in round 2, of 20 (20: every item new)",
    )
    parser.add_argument(
        "--changed-every",
        type=int,
        default=10,
        help="every n-th feed changes in round 2 (10: 10%%; more than --feeds: all 304 but feed 0)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="second-round-like rounds to run")
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="record round 2 in the worker and its children with py-spy (raw format) to FILE",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp,
        feed_server(
            "--new-entries", str(args.new_entries), "--changed-every", str(args.changed_every)
        ) as (port, port_owner),
        redis_db9(),
        database(args.sqlite, Path(tmp)) as database_url,
    ):
        workdir = Path(tmp)
        env = bench_env(database_url, workdir)
        run_cli(env, "db", "upgrade")
        urls = [f"http://127.0.0.1:{port}/feed/{n}" for n in range(args.feeds)]
        register_feeds(database_url, urls)
        worker = start_worker(env, workdir / "worker.log")
        if args.concurrency != 2:
            raise SystemExit("start_worker runs --concurrency 2; other values are not wired")
        try:
            first, _ = fleet_round(env, database_url, args.feeds, timeout=600)
            articles = article_count(database_url)
            print(f"fleet: 1 worker --concurrency 2, Redis broker, "
                  f"{'SQLite' if args.sqlite else 'PostgreSQL'}, {args.feeds} feeds")  # fmt: skip
            print(f"round 1 (all 200): {first:.2f} s, {args.feeds / first:.0f} feeds/s, "
                  f"{articles} articles")  # fmt: skip
            changed = f"1 in {args.changed_every} changed, with {args.new_entries} new of 20"
            seconds: list[float] = []
            for number in range(2, 2 + args.repeat):
                worker_cpu = tree_cpu_seconds(worker.popen.pid)
                parent_cpu = cpu_seconds(worker.popen.pid)
                server_cpu = tree_cpu_seconds(port_owner)
                spy = None
                if args.py_spy and number == 2:
                    spy = subprocess.Popen(
                        ["py-spy", "record", "--subprocesses", "--format", "raw", "-r", "200",
                         "-o", args.py_spy, "-p", str(worker.popen.pid)]
                    )  # fmt: skip
                    time.sleep(1)
                second, dispatched = fleet_round(env, database_url, args.feeds, timeout=600)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait()
                worker_cpu = tree_cpu_seconds(worker.popen.pid) - worker_cpu
                parent_cpu = cpu_seconds(worker.popen.pid) - parent_cpu
                server_cpu = tree_cpu_seconds(port_owner) - server_cpu
                new_articles = article_count(database_url) - articles
                articles += new_articles
                seconds.append(second)
                print(f"round {number} ({changed}): {second:.2f} s (of which `dispatch --all` "
                      f"{dispatched:.2f} s), {args.feeds / second:.0f} feeds/s, "
                      f"{new_articles} new articles  (target < 10 s)")  # fmt: skip
                print(f"  CPU: worker (parent + children) {worker_cpu:.2f} s = "
                      f"{1000 * worker_cpu / args.feeds:.2f} ms per feed (the parent, Celery's "
                      f"consumer: {1000 * parent_cpu / args.feeds:.2f} ms); "
                      f"feed server {server_cpu:.2f} s")  # fmt: skip
            if args.repeat > 1:
                print(f"rounds 2-{1 + args.repeat}: median {statistics.median(seconds):.2f} s, "
                      f"min {min(seconds):.2f} s, max {max(seconds):.2f} s")  # fmt: skip
        finally:
            worker.stop()
        if not args.no_eager:
            eager, feeds = eager_round(database_url, workdir)
            print(f"same round in one process (run_once, eager, 1 thread): {eager:.2f} s, "
                  f"{feeds / eager:.0f} feeds/s")  # fmt: skip
        print(f"cpu count: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
