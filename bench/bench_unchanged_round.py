"""What an unchanged `newsworker run --once` round costs: CPU of the whole process tree, peak RSS.

N feeds are served over HTTP on 127.0.0.1 (from a thread of this process, so the server's CPU is
not counted) with ETag and Last-Modified. A first `newsworker run --once --all` fills a fresh
SQLite store; a second one, where every feed answers 304, is timed as a subprocess: CPU seconds
from `getrusage(RUSAGE_CHILDREN)` before and after it (its prepare processes and publisher are
reaped by it, so they count), peak RSS from `wait4` (the largest process of its tree). Each
setting of NEWSWORKER_PREPARE_PROCESSES (default, 0) is measured alternately, best of --repeat.

Run: .venv/bin/python bench/bench_unchanged_round.py [--feeds 200] [--repeat 3]
     [--newsworker PATH]  (another checkout's `newsworker` script, to compare before/after)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ENTRIES_PER_FEED = 50
ITEM = (
    "<item><title>Story {k} of feed {n}</title><link>http://feeds.example/{n}/{k}</link>"
    "<guid>{n}-{k}</guid><pubDate>{date}</pubDate><description>&lt;p&gt;Body of story {k} "
    "of feed {n}. The council met on Tuesday to discuss the budget for the coming year and "
    "the repairs of the old bridge.&lt;/p&gt;</description></item>"
)
LAST_MODIFIED = formatdate(time.time() - 3600, usegmt=True)


def render(n: int) -> bytes:
    """Feed n's body: the same on every request."""
    items = "".join(ITEM.format(n=n, k=k, date=LAST_MODIFIED) for k in range(ENTRIES_PER_FEED))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>http://feeds.example/{n}</link>{items}</channel></rss>"
    ).encode()


class FeedHandler(BaseHTTPRequestHandler):
    """/feed/<n>: 200 with ETag and Last-Modified, 304 to a matching conditional GET."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        n = int(self.path.rsplit("/", 1)[1])
        etag = f'"feed-{n}-v1"'
        if (
            self.headers.get("If-None-Match") == etag
            or self.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            return
        body = render(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def serve() -> str:
    """Start the feed server in a thread; return its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def environment(workdir: Path, processes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWORKER_")}
    env.update(
        NEWSWORKER_DATABASE_URL=f"sqlite:///{workdir / 'store.db'}",
        NEWSWORKER_JSONL_PATH=str(workdir / "stories.jsonl"),
        NEWSWORKER_ALLOW_PRIVATE_ADDRESSES="true",
        NEWSWORKER_HOST_REQUESTS_PER_SECOND_OVERRIDES=json.dumps({"127.0.0.1": 1_000_000}),
        NEWSWORKER_LOG_LEVEL="WARNING",
    )
    if processes is not None:
        env["NEWSWORKER_PREPARE_PROCESSES"] = processes
    return env


def prepare_store(newsworker: str, workdir: Path, base_url: str, feeds: int) -> None:
    """Migrate a fresh store, register the feeds, run the first (all new) round."""
    outlines = "".join(
        f'<outline type="rss" text="Feed {n}" xmlUrl="{base_url}/feed/{n}"/>' for n in range(feeds)
    )
    opml = workdir / "feeds.opml"
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>')
    env = environment(workdir, None)
    for args in (["db", "upgrade"], ["feeds", "import-opml", str(opml)], ["run", "--once"]):
        subprocess.run([newsworker, *args], env=env, check=True, capture_output=True)


def unchanged_round(newsworker: str, workdir: Path, processes: str | None) -> dict[str, float]:
    """Time `newsworker run --once --all` on the filled store; CPU s, wall s, peak RSS MB."""
    published = _published(workdir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        [newsworker, "run", "--once", "--all"],
        env=environment(workdir, processes),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode:
        raise SystemExit(stderr.decode(errors="replace"))
    if _published(workdir) != published:
        raise SystemExit("the second round was not unchanged:\n" + stderr.decode())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall, "rss_mb": usage.ru_maxrss / 1024}


def _published(workdir: Path) -> int:
    path = workdir / "stories.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--newsworker", default=str(Path(sys.executable).with_name("newsworker")))
    args = parser.parse_args()
    base_url = serve()
    settings = {"default": None, "NEWSWORKER_PREPARE_PROCESSES=0": "0"}
    with tempfile.TemporaryDirectory(prefix="bench-unchanged-") as tmp:
        workdir = Path(tmp)
        prepare_store(args.newsworker, workdir, base_url, args.feeds)
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):
            for label, processes in settings.items():  # alternately, so drift hits both
                figures = unchanged_round(args.newsworker, workdir, processes)
                if label not in best or figures["cpu"] < best[label]["cpu"]:
                    best[label] = figures
    print(f"unchanged round, {args.feeds} feeds answering 304 ({args.newsworker}):")
    for label, figures in best.items():
        print(
            f"  {label:32s} CPU {figures['cpu']:.2f} s (tree), wall {figures['wall']:.2f} s, "
            f"peak RSS {figures['rss_mb']:.0f} MB  (best of {args.repeat} by CPU)"
        )


if __name__ == "__main__":
    main()
