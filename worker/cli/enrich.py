"""`newsworker enrich`: enrich articles given as JSON and print the stories, writing nothing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from newsworker.worker.cli.boundary import about
from newsworker.worker.cli.context import fail, settings
from newsworker.worker.enrich_once import Enricher, enrich_lines
from newsworker.worker.output import echo_json

app = typer.Typer(add_completion=False)


@app.command()
def enrich(
    source: Annotated[
        str | None, typer.Argument(help="A JSON article file, or - for stdin.")
    ] = None,
    jsonl: Annotated[
        str | None,
        typer.Option(
            "--jsonl",
            metavar="FILE",
            help="JSON Lines, one article a line (optional id), or - for stdin: one story a line.",
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Add why each candidate mention was attached or refused (field explanation).",
        ),
    ] = False,
) -> None:
    """Enrich one article (JSON: title, text or html, optional url) and print the story JSON."""
    if jsonl is not None:
        if source is not None:
            raise fail("give one article file, or --jsonl FILE, not both")
        _enrich_jsonl(jsonl, Enricher(settings(logs="quiet"), explain=explain))
        return
    if source is None:
        raise fail("give an article file (or - for stdin), or --jsonl FILE")
    cfg = settings(logs="quiet")
    with about("stdin" if source == "-" else source):
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise fail(f"{source}: not JSON: {e}") from e
        try:
            story = Enricher(cfg, explain=explain).enrich(data)
        except ValueError as e:
            raise fail(f"{source}: {e}") from e
    echo_json(story, ensure_ascii=False, indent=2)


def _enrich_jsonl(source: str, enricher: Enricher) -> None:
    """One compact story line per input line, written as each is done."""
    with about("stdin" if source == "-" else source):
        if source == "-":
            _write_stories(sys.stdin, enricher)
            return
        with Path(source).open(encoding="utf-8") as handle:
            _write_stories(handle, enricher)


def _write_stories(lines: Iterable[str], enricher: Enricher) -> None:
    for story in enrich_lines(lines, enricher):
        echo_json(story, ensure_ascii=False)
