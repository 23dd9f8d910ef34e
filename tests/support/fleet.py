"""Run real newsworker processes (Celery worker, beat, CLI) as subprocesses for fleet tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEWSWORKER = [sys.executable, "-m", "newsworker.worker.cli"]


def fleet_env(**values: str) -> dict[str, str]:
    """The process environment with NEWSWORKER_* values set (and no stray ones inherited)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSWORKER_") or k.startswith("NEWSWORKER_TEST_")
    }
    env.update({f"NEWSWORKER_{k.upper()}": v for k, v in values.items()})
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("NEWSWORKER_LOG_FORMAT", "json")
    return env


def run_cli(
    env: Mapping[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one newsworker command and return its result (raises on a non-zero exit)."""
    result = subprocess.run(
        [*NEWSWORKER, *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"newsworker {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


# Every process a test starts, so a failing test can never leave a worker consuming from the
# shared Redis behind it (tests/conftest.py kills the survivors after each test).
RUNNING: set[Process] = set()


def kill_leftovers() -> int:
    """SIGKILL the process group of every started process still alive; returns how many."""
    killed = 0
    for process in list(RUNNING):
        if process.popen.poll() is None:
            process.kill()
            killed += 1
        RUNNING.discard(process)
    return killed


class Process:
    """A long-running newsworker process (worker, beat) with its output kept in a file."""

    def __init__(self, env: Mapping[str, str], args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        RUNNING.add(self)
        self.popen = subprocess.Popen(
            [*NEWSWORKER, *args],
            env=dict(env),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """What the process has printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the whole process group and wait; SIGKILL after the timeout."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # any pool child left behind
        self._log.close()
        RUNNING.discard(self)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group at once (pool children included, even orphaned)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(10)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (the prefork pool of a Celery worker), from any thread."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return children


def start_worker(env: Mapping[str, str], log_path: Path, *extra: str) -> Process:
    """Start `newsworker worker` and wait until Celery says it is ready."""
    process = Process(env, ["worker", "--concurrency", "2", *extra], log_path)
    wait_for(lambda: "ready" in process.output() or process.popen.poll() is not None, timeout=60)
    if process.popen.poll() is not None:
        raise AssertionError(f"worker exited early:\n{process.output()}")
    return process


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    """Poll condition until it holds or the timeout passes; returns the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
