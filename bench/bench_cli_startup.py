"""How fast the `newsworker` command answers: `--version`, `--help`, `feeds list` on a store.

Each command runs as a subprocess --repeat times; the best wall time and the best CPU time
(user + system of the process, from `wait4`) are printed. `feeds list` reads a fresh SQLite
store holding --feeds feeds (made first with `db upgrade` and `feeds import-opml`, not timed).

Run: .venv/bin/python bench/bench_cli_startup.py [--repeat 5] [--feeds 50]
     [--newsworker PATH]  (another checkout's `newsworker` script, to compare before/after)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {"--version": ["--version"], "--help": ["--help"], "feeds list": ["feeds", "list"]}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of command."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(command)} failed: {stderr.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--newsworker", default=str(Path(sys.executable).with_name("newsworker")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWORKER_")}
        env["NEWSWORKER_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'store.db'}"
        outlines = "".join(
            f'<outline type="rss" text="Feed {n}" xmlUrl="https://feeds.example/{n}.xml"/>'
            for n in range(args.feeds)
        )
        opml = Path(tmp) / "feeds.opml"
        opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>')
        for setup in (["db", "upgrade"], ["feeds", "import-opml", str(opml)]):
            subprocess.run([args.newsworker, *setup], env=env, check=True, capture_output=True)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        for _ in range(args.repeat):
            for name, command in COMMANDS.items():  # interleaved, so drift hits all alike
                runs[name].append(timed([args.newsworker, *command], env))
    print(f"CLI start-up ({args.newsworker}), best of {args.repeat}:")
    for name, figures in runs.items():
        wall = min(w for w, _ in figures)
        cpu = min(c for _, c in figures)
        print(f"  newsworker {name:12s} wall {wall:.3f} s, CPU {cpu:.3f} s")


if __name__ == "__main__":
    main()
