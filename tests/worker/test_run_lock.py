"""Two `newsworker run --once` at once on one store: no crash, no story twice, store intact.

Real processes on a real store: the second run either waits its turn (it finds the feeds done)
or says in one line that another run holds the store, and exits non-zero.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bench.bench_pipeline import seed_store
from bench.corpus import generate_corpus
from newsworker.storage.run_lock import StoreBusy, hold_store, lock_file_of
from tests.support.fleet import NEWSWORKER, ROOT, fleet_env

# 6 feeds of 50 entries, with syndicated copies across feeds: a few seconds of work per run.
BODIES = generate_corpus(300, seed=11)


def _two_runs_at_once(database_url: str, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    seed_store(database_url, BODIES, [], tmp_path)
    env = fleet_env(
        database_url=database_url,
        jsonl_path=str(tmp_path / "stories.jsonl"),
        allow_file_urls="true",
        allow_private_addresses="true",
        broker_url="",
        redis_url="",
    )
    # --all: each run would poll every feed, whatever the other has claimed.
    command = [*NEWSWORKER, "run", "--once", "--all"]
    pipe = subprocess.PIPE
    procs = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=pipe, stderr=pipe, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _check(results: list[subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        assert "IntegrityError" not in result.stderr, result.stderr
    ok = [r for r in results if r.returncode == 0]
    refused = [r for r in results if r.returncode != 0]
    assert ok, [r.stderr[-2000:] for r in results]
    for result in refused:
        assert "another `newsworker run` holds the store" in result.stderr
    lines = [
        json.loads(line)
        for line in (tmp_path / "stories.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    events = collections.Counter((line["story_id"], line["revision"]) for line in lines)
    assert lines and max(events.values()) == 1, "a story revision was published twice"
    created = collections.Counter(
        (line["article"]["feed"]["url"], line["article"]["canonical_url"])
        for line in lines
        if line["event"] == "created"
    )
    assert max(created.values()) == 1, "one entry made two stories"


def test_two_runs_on_one_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _check(_two_runs_at_once(url, tmp_path), tmp_path)
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.postgres
def test_two_runs_on_one_postgresql_schema(postgres_url: str, tmp_path: Path) -> None:
    _check(_two_runs_at_once(postgres_url, tmp_path), tmp_path)


def test_a_held_sqlite_store_is_refused_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    lock_path = lock_file_of(url)
    assert lock_path == f"{tmp_path / 'store.db'}.run-lock"
    with hold_store(url):
        with pytest.raises(StoreBusy, match="holds the store"), hold_store(url):
            pass
        # Any other open of the file, as another process makes, finds it locked.
        fd = os.open(lock_path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    with hold_store(url):  # released with the block
        pass


@pytest.mark.postgres
def test_a_held_postgresql_schema_is_refused_at_once(postgres_url: str) -> None:
    with (
        hold_store(postgres_url),
        pytest.raises(StoreBusy, match="holds the store"),
        hold_store(postgres_url),
    ):
        pass
    with hold_store(postgres_url):
        pass
