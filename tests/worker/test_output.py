"""The one output layer: redaction, terminal escaping, literal markup, safe JSON; and the CLI
commands that show feed text (feeds list, status, feeds errors, export-opml) going through it."""

from __future__ import annotations

import io
import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.panel import Panel
from rich.table import Table
from sqlmodel import Session

from newsworker.storage.db import create_db_engine
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Feed, FeedErrorRecord
from newsworker.worker.output import (
    SafeConsole,
    escape_for_terminal,
    forget_secrets,
    one_line,
    redact,
    register_secrets,
    to_json,
)
from tests.support.fleet import NEWSWORKER, ROOT, fleet_env

HOSTILE = (
    "[Live] Update [breaking] [/] \x1b[31mred\x1b[0m \x1b]0;pwned\x07 bell\x07 \x9b2J "
    "]]> & <b> \u202eevil"
)


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:s3cretpw@host/db", "postgresql://u:***@host/db"),
        ("redis://:s3cretpw@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
        ("postgresql+psycopg://u:p@ss@host/db", "postgresql+psycopg://u:***@host/db"),
        ("got 'mysql://u:pw@x/y')", "got 'mysql://u:***@x/y')"),
        ("https://ghp_0123456789abcdef0123@github.com/x", "https://***@github.com/x"),
        ("postgresql://reader@host/db", "postgresql://reader@host/db"),
        (
            "https://feeds.example/rss?token=abc&page=2",
            "https://feeds.example/rss?token=***&page=2",
        ),
        ("host=db password=hunter22 user=u", "host=db password=*** user=u"),
        ("https://example.org/feed?page=2", "https://example.org/feed?page=2"),
        ("mail me at someone@example.org", "mail me at someone@example.org"),
    ],
)
def test_redact_masks_url_passwords_and_secret_parameters(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_secret_values_are_masked_as_whole_words() -> None:
    register_secrets(["webhook-signing-secret-1", "postgres", "short", None])
    assert redact("signed with webhook-signing-secret-1.") == "signed with ***."
    assert redact("user postgres on postgresql://h/db") == "user *** on postgresql://h/db"
    assert redact("a short word") == "a short word"  # too short to mask without eating words


def test_escape_for_terminal_shows_controls_and_keeps_text() -> None:
    shown = escape_for_terminal(HOSTILE + "\n\tnext \ud800")
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "\u202e" not in shown and "\ud800" not in shown
    assert "[Live] Update [breaking] [/] \\x1b[31mred" in shown and "\\x07 bell" in shown
    assert "\n\tnext" in shown
    assert one_line("two\nlines\there") == "two lines here"


def _render(*renderables: object) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, width=200)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


def test_the_console_prints_markup_literally_and_escapes_controls_everywhere() -> None:
    register_secrets(["s3cretpw-long"])
    table = Table("title", title="[bold]not bold[/bold]")
    table.add_row(HOSTILE)
    table.add_row("postgresql://u:s3cretpw@h/db and s3cretpw-long")
    text = _render("[Live] Update", table, Panel("[red]x", title="[Live] panel"))
    assert text.startswith("[Live] Update\n")
    assert "[bold]not bold[/bold]" in text and "[Live] panel" in text and "[red]x" in text
    assert "\x1b" not in text and "\x07" not in text and "\\x1b]0;pwned" in text
    assert "s3cretpw" not in text and "postgresql://u:***@h/db and ***" in text


def test_json_is_valid_redacted_and_has_no_raw_controls() -> None:
    register_secrets(["s3cretpw-long"])
    value = {"title": HOSTILE, "nested": [{"url": "redis://:pw@h:1/0"}], "n": 3, "none": None}
    text = to_json(value, ensure_ascii=False)
    assert not any(ch in text for ch in "\x1b\x07\x9b\u202e")
    back = json.loads(text)
    assert back["title"] == HOSTILE  # escaped in JSON, the same text once parsed
    assert back["nested"][0]["url"] == "redis://:***@h:1/0" and back["n"] == 3
    assert "s3cretpw" not in to_json({"error": "signed with s3cretpw-long"})


@pytest.fixture
def hostile_store(tmp_path: Path) -> dict[str, str]:
    """A store with one failing feed whose title, URL and errors carry controls and markup."""
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    with Session(engine) as session:
        feed = Feed(
            url="http://127.0.0.1/[Live]/feed?a=1&b=2",
            title=HOSTILE,
            status="failing",
            error_count=3,
            last_error=f"fetch failed: {HOSTILE}",
        )
        session.add(feed)
        session.flush()
        assert feed.id is not None
        session.add(FeedErrorRecord(feed_id=feed.id, kind="parse_error", message=HOSTILE))
        session.commit()
    engine.dispose()
    return fleet_env(database_url=url, log_format="console")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSWORKER, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("args", [("feeds", "list"), ("status",), ("feeds", "errors", "1")])
def test_feed_text_reaches_the_terminal_escaped_and_as_written(
    hostile_store: dict[str, str], args: tuple[str, ...]
) -> None:
    result = _cli({**hostile_store, "COLUMNS": "400"}, *args)
    shown = result.stdout + result.stderr
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown, shown
    assert "[Live] Update [breaking] [/]" in shown, shown  # as written, not eaten as markup
    assert "Traceback" not in shown


def test_feeds_list_json_parses_and_carries_no_raw_controls(
    hostile_store: dict[str, str],
) -> None:
    result = _cli(hostile_store, "feeds", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x9b" not in result.stdout
    assert json.loads(result.stdout)[0]["last_error"] == f"fetch failed: {HOSTILE}"


def test_export_opml_always_parses(hostile_store: dict[str, str]) -> None:
    result = _cli(hostile_store, "feeds", "export-opml")
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout.encode("utf-8"))  # a strict XML 1.0 parser
    outline = root.find("./body/outline")
    assert outline is not None
    assert outline.get("xmlUrl") == "http://127.0.0.1/[Live]/feed?a=1&b=2"
    assert (outline.get("title") or "").startswith("[Live] Update [breaking] [/] [31mred")
    assert "]]> & <b>" in (outline.get("title") or "")
