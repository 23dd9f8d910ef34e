"""`newsworker enrich`: enrich one article given as JSON and print the story, writing nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from newsworker.worker.cli.boundary import about
from newsworker.worker.cli.context import fail, settings
from newsworker.worker.enrich_once import enrich_article_json
from newsworker.worker.output import echo_json

app = typer.Typer(add_completion=False)


@app.command()
def enrich(
    source: Annotated[str, typer.Argument(help="A JSON article file, or - for stdin.")],
) -> None:
    """Enrich one article (JSON: title, text or html, optional url) and print the story JSON."""
    cfg = settings(logs="quiet")
    with about("stdin" if source == "-" else source):
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise fail(f"{source}: not JSON: {e}") from e
        try:
            story = enrich_article_json(data, settings=cfg)
        except ValueError as e:
            raise fail(f"{source}: {e}") from e
    echo_json(story, ensure_ascii=False, indent=2)
