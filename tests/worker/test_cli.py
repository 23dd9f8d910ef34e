"""The command-line contract, run as a user would: real subprocesses, an SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from newsworker.worker.cli import COMMANDS, app
from tests.support.fleet import NEWSWORKER, ROOT, fleet_env
from tests.support.http import LocalHTTPServer, Response
from tests.support.paths import SHARED

SAMPLES = ROOT / "worker" / "samples"
SEED = SHARED / "samples" / "seed-story.txt"
FEED_FIELDS = {
    "url", "status", "error_count", "last_error", "last_success_at", "next_poll_at",
    "interval_seconds",
}  # fmt: skip


def run_cli(env: dict[str, str], *args: str) -> Result:
    """Run one command in-process (fast); subprocess tests below cover the real entry point."""
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"newsworker {' '.join(args)}: {result.output}"
    return result


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return fleet_env(
        database_url=f"sqlite:///{tmp_path / 'cli.db'}",
        jsonl_path=str(tmp_path / "stories.jsonl"),
        allow_private_addresses="true",
        log_format="json",
    )


def _seed_article() -> dict[str, str]:
    if not SEED.exists():
        pytest.skip("shared/samples/seed-story.txt is missing")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    body = lines[1 : lines.index("About the People Mentioned")]
    return {"title": lines[0], "text": "\n".join(body)}


def test_enrich_attaches_xi_and_apec_to_the_seed(env: dict[str, str], tmp_path: Path) -> None:
    article = tmp_path / "seed.json"
    article.write_text(json.dumps(_seed_article()), encoding="utf-8")
    # The real entry point, as a user runs it.
    result = subprocess.run(
        [*NEWSWORKER, "enrich", str(article)], env=env, cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    story = json.loads(result.stdout)
    ids = {e["id"]: e for e in story["entities"]}
    assert {"Q15031", "Q170481"} <= set(ids)
    assert ids["Q15031"]["profile"]["summary"].startswith("Xi Jinping")
    assert ids["Q15031"]["profile"]["sources"][0]["url"].startswith("https://")
    assert "[1]" not in story["article"]["text"]  # the seed's orphan marker is gone
    assert "About the People Mentioned\nXi Jinping" in story["rendered"]
    assert not (tmp_path / "cli.db").exists(), "enrich must write nothing"


def test_enrich_reads_stdin_and_names_the_bad_field(env: dict[str, str]) -> None:
    runner = CliRunner()
    article = json.dumps({"title": "WTO", "html": "<p>The WTO met.</p>"})
    ok = runner.invoke(app, ["enrich", "-"], input=article, env=env)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["entities"][0]["id"] == "Q7825"
    bad = runner.invoke(app, ["enrich", "-"], input=json.dumps({"text": "no title"}), env=env)
    assert bad.exit_code == 1
    assert "title" in bad.stderr


def test_feeds_profiles_run_and_export(
    env: dict[str, str], tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    feed = (SAMPLES / "feeds" / "world-economy.rss").read_bytes()
    http_server.route("/economy.rss", Response(200, {"Content-Type": "application/rss+xml"}, feed))
    http_server.route(
        "/",
        Response(200, {"Content-Type": "text/html"},
                 b'<html><head><link rel="alternate" type="application/rss+xml" '
                 b'href="/economy.rss"></head></html>'),
    )  # fmt: skip
    imported = run_cli(env, "profiles", "import", str(SAMPLES / "profiles.jsonl")).stdout
    assert "created 17, updated 0, unchanged 0, rejected 0" in imported
    again = run_cli(env, "profiles", "import", str(SAMPLES / "profiles.jsonl")).stdout
    assert "created 0, updated 0, unchanged 17, rejected 0" in again

    added = run_cli(env, "feeds", "add", http_server.url("/"), "--interval", "600").stdout
    assert "discovered from" in added and "/economy.rss" in added
    rows = json.loads(run_cli(env, "feeds", "list", "--json").stdout)
    assert len(rows) == 1 and set(rows[0]) >= FEED_FIELDS
    assert rows[0]["status"] == "active" and rows[0]["interval_seconds"] == 600

    run_cli(env, "run", "--once", "--all")
    stories = [json.loads(x) for x in run_cli(env, "stories", "export").stdout.splitlines()]
    assert len(stories) == 4
    shown = json.loads(run_cli(env, "stories", "show", stories[0]["story_id"]).stdout)
    assert shown["story_id"] == stories[0]["story_id"]
    later = run_cli(env, "stories", "export", "--since", "2999-01-01T00:00:00Z").stdout
    assert later.strip() == ""
    rows = json.loads(run_cli(env, "feeds", "list", "--json").stdout)
    assert rows[0]["last_success_at"] is not None and rows[0]["error_count"] == 0

    run_cli(env, "feeds", "pause", http_server.url("/economy.rss"))
    assert json.loads(run_cli(env, "feeds", "list", "--json").stdout)[0]["status"] == "paused"
    run_cli(env, "feeds", "resume", str(rows[0]["id"]))
    assert json.loads(run_cli(env, "feeds", "list", "--json").stdout)[0]["status"] == "active"
    opml = run_cli(env, "feeds", "export-opml").stdout
    assert "/economy.rss" in opml
    run_cli(env, "feeds", "remove", str(rows[0]["id"]))
    assert json.loads(run_cli(env, "feeds", "list", "--json").stdout) == []
    (tmp_path / "feeds.opml").write_text(opml, encoding="utf-8")
    imported_opml = run_cli(env, "feeds", "import-opml", str(tmp_path / "feeds.opml")).stdout
    assert "imported 1 new feeds" in imported_opml


def test_file_feeds_need_the_setting(env: dict[str, str]) -> None:
    url = (SAMPLES / "feeds" / "business.atom").resolve().as_uri()
    refused = CliRunner().invoke(app, ["feeds", "add", url], env=env)
    assert refused.exit_code == 1
    assert "NEWSWORKER_ALLOW_FILE_URLS" in refused.stderr
    run_cli({**env, "NEWSWORKER_ALLOW_FILE_URLS": "true"}, "feeds", "add", url)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NEWSWORKER_MAX_BODY_BYTES", "lots"), ("NEWSWORKER_DATABASE_URL", "mysql://x/y"),
     ("NEWSWORKER_BROKER_URL", "amqp://guest@localhost//")],
)  # fmt: skip
def test_a_bad_setting_stops_with_one_line_naming_it(
    env: dict[str, str], variable: str, value: str
) -> None:
    result = subprocess.run(
        [*NEWSWORKER, "feeds", "list"], env={**env, variable: value}, cwd=ROOT,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]


def test_a_failing_feed_is_listed_with_its_recorded_errors(
    env: dict[str, str], http_server: LocalHTTPServer
) -> None:
    http_server.route("/gone.xml", Response(500, body=b"boom"))
    run_cli(env, "feeds", "add", http_server.url("/gone.xml"), "--no-check")
    run_cli(env, "run", "--once", "--all")
    row = json.loads(run_cli(env, "feeds", "list", "--json").stdout)[0]
    assert row["error_count"] == 1 and "500" in row["last_error"]
    errors = json.loads(run_cli(env, "feeds", "errors", str(row["id"]), "--json").stdout)
    assert errors[0]["kind"] == "http_status" and "gone.xml" in errors[0]["message"]


def test_every_listed_summary_is_its_command_help() -> None:
    """The root help lists commands from summaries; they must match the commands' own help."""
    root = typer.main.get_command(app)
    ctx = root.make_context("newsworker", ["--help"], resilient_parsing=True)
    for name, spec in COMMANDS.items():
        command = root.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert command.help.strip() == spec.summary, name


def test_help_and_version_import_no_command_module() -> None:
    heavy = ("celery", "sqlalchemy", "sqlmodel", "httpx", "feedparser", "alembic", "pydantic")
    probe = (
        "import sys\n"
        "from newsworker.worker.cli import main\n"
        "for args in (['--help'], ['--version']):\n"
        "    sys.argv = ['newsworker', *args]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}"
        " or m.startswith('newsworker.worker.cli.')"
        " and m not in ('newsworker.worker.cli.lazy', 'newsworker.worker.cli.boundary',"
        " 'newsworker.worker.cli.root')"
        " or m.startswith('newsworker.stages')))\n"
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "newsworker " in result.stdout  # the version line
    assert result.stdout.strip().splitlines()[-1] == "[]"
