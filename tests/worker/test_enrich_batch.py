"""`newsworker enrich --jsonl` and `--explain`, run as a user would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsworker.worker.cli import app
from tests.support.fleet import NEWSWORKER, ROOT, fleet_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return fleet_env(database_url=f"sqlite:///{tmp_path / 'cli.db'}", log_format="json")


ARTICLES = [
    {"id": "a1", "title": "Trade", "text": "The WTO met in Geneva on Monday."},
    {"title": "No id", "html": "<p>Officials of APEC gathered.</p>"},
    {"id": 7, "text": "a title is missing"},
    {"id": "a4", "title": "Talks", "text": "The WTO said talks would go on."},
]


def _jsonl(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_jsonl_gives_one_story_per_line_in_order_and_an_error_for_a_bad_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "articles.jsonl"
    lines = [json.dumps(a) for a in ARTICLES]
    source.write_text(_jsonl(lines[0], lines[1], "{not json", lines[2], lines[3]), "utf-8")
    result = subprocess.run(
        [*NEWSWORKER, "enrich", "--jsonl", str(source)], env=env, cwd=ROOT,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 5
    assert out[0]["id"] == "a1" and out[0]["article"]["title"] == "Trade"
    assert [e["id"] for e in out[0]["entities"]] == ["Q7825"]
    assert "id" not in out[1] and out[1]["article"]["title"] == "No id"
    assert out[2]["line"] == 3 and "not JSON" in out[2]["error"]
    assert out[3] == {
        "error": "field 'title' is required and must be a non-empty string",
        "line": 4,
    }
    assert out[4]["id"] == "a4" and out[4]["entities"]
    assert not (tmp_path / "cli.db").exists(), "enrich must write nothing"


def test_jsonl_reads_stdin_and_the_single_article_form_stays(env: dict[str, str]) -> None:
    runner = CliRunner()
    batch = runner.invoke(app, ["enrich", "--jsonl", "-"], input=json.dumps(ARTICLES[0]), env=env)
    assert batch.exit_code == 0, batch.output
    (story,) = [json.loads(line) for line in batch.stdout.splitlines()]
    assert story["id"] == "a1" and "explanation" not in story
    single = runner.invoke(app, ["enrich", "-"], input=json.dumps(ARTICLES[0]), env=env)
    assert single.exit_code == 0, single.output
    assert "id" not in json.loads(single.stdout)
    both = runner.invoke(app, ["enrich", "-", "--jsonl", "-"], input="", env=env)
    assert both.exit_code != 0


def test_explain_says_why_each_candidate_was_attached_or_refused(env: dict[str, str]) -> None:
    article = {"title": "Talks", "text": "The WTO met. Officials said the who of it was unclear."}
    result = CliRunner().invoke(
        app, ["enrich", "--explain", "-"], input=json.dumps(article), env=env
    )
    assert result.exit_code == 0, result.output
    story = json.loads(result.stdout)
    notes = story["explanation"]
    attached = [n for n in notes if n["decision"] == "attached"]
    assert [n["profile_id"] for n in attached] == ["Q7825"]
    assert attached[0]["text"] == "WTO" and attached[0]["reason"]
    assert {"profile_id": "Q7825", "alias": "acronym"} in attached[0]["candidates"]
    text = story["article"]["text"]
    for note in notes:
        assert text[note["start"] : note["end"]] == note["text"]
        assert note["reason"]
