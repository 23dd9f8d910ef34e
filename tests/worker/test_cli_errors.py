"""Bad input and services that are down: one line on stderr naming the culprit, a non-zero exit,
no traceback unless asked for. Run as a user runs the command (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.fleet import NEWSWORKER, ROOT, fleet_env

UNREACHABLE_PG = "postgresql://u:pw@127.0.0.1:1/db"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSWORKER, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        timeout=120, input=stdin,
    )  # fmt: skip


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserting there is exactly one)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return fleet_env(database_url=f"sqlite:///{tmp_path / 'cli.db'}", log_format="json")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    deep = "[" * 100_000 + "]" * 100_000
    made = {
        "latin1.opml": b'<?xml version="1.0"?><opml><body><outline text="caf\xe9" xmlUrl="http://a/"/>'
        b"</body></opml>",
        "broken.opml": b"<opml><body><outline",
        "deep.json": deep.encode(),
        "deep.jsonl": (deep + "\n").encode(),
        "latin1.json": b'{"title": "caf\xe9"}',
    }  # fmt: skip
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder").mkdir()
    return {name: str(tmp_path / name) for name in [*made, "folder"]} | {
        "missing": str(tmp_path / "missing.opml")
    }


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["feeds", "import-opml", "@latin1.opml"], ["latin1.opml", "not well-formed"]),
        (["feeds", "import-opml", "@broken.opml"], ["broken.opml", "not well-formed"]),
        (["feeds", "import-opml", "@missing"], ["missing.opml", "no such file"]),
        (["feeds", "import-opml", "@folder"], ["folder", "is a directory"]),
        (["profiles", "import", "@folder"], ["folder", "is a directory"]),
        (["profiles", "import", "@deep.jsonl"], ["deep.jsonl", "nested too deeply"]),
        (["enrich", "@missing"], ["missing.opml", "no such file"]),
        (["enrich", "@folder"], ["folder", "is a directory"]),
        (["enrich", "@deep.json"], ["deep.json", "nested too deeply"]),
        (["enrich", "@latin1.json"], ["latin1.json", "not UTF-8"]),
        (["stories", "export", "--since", "0001-01-01T00:00:00+01:00"], ["--since", "range"]),
        (["stories", "export", "--since", "9999-12-31T23:59:59-01:00"], ["--since", "range"]),
        (["prune", "--older-than", "99999999d"], ["--older-than", "99999999d"]),
        (["prune", "--older-than", "99999999999999999999w"], ["--older-than"]),
    ],
)
def test_bad_input_is_one_line_naming_it(
    env: dict[str, str], files: dict[str, str], args: list[str], names: list[str]
) -> None:
    line = _one_line(
        _cli(env, *[files.get(arg[1:], arg) if arg[0] == "@" else arg for arg in args])
    )
    assert line.startswith("newsworker: ")
    for name in names:
        assert name in line, line


@pytest.mark.parametrize(
    ("variables", "args", "names"),
    [
        ({"DATABASE_URL": UNREACHABLE_PG}, ["stories", "export"], ["NEWSWORKER_DATABASE_URL"]),
        ({"DATABASE_URL": UNREACHABLE_PG}, ["db", "current"],
         ["NEWSWORKER_DATABASE_URL", "refused"]),
        ({"DATABASE_URL": UNREACHABLE_PG}, ["prune"], ["NEWSWORKER_DATABASE_URL"]),
        ({"WEBHOOKS": "not json"}, ["feeds", "list"], ["NEWSWORKER_WEBHOOKS"]),
        ({"HOST_REQUESTS_PER_SECOND_OVERRIDES": "x"}, ["feeds", "list"],
         ["NEWSWORKER_HOST_REQUESTS_PER_SECOND_OVERRIDES"]),
        ({"LOG_LEVEL": "loud"}, ["feeds", "list"], ["NEWSWORKER_LOG_LEVEL"]),
    ],
)  # fmt: skip
def test_a_service_down_or_a_bad_setting_is_one_line_naming_the_variable(
    env: dict[str, str], variables: dict[str, str], args: list[str], names: list[str]
) -> None:
    env = {**env, **{f"NEWSWORKER_{k}": v for k, v in variables.items()}}
    line = _one_line(_cli(env, *args))
    for name in names:
        assert name in line, line


def test_an_unreachable_broker_is_one_line(env: dict[str, str]) -> None:
    added = _cli(env, "feeds", "add", "--no-check", "http://127.0.0.1:9/feed")
    assert added.returncode == 0, added.stderr
    line = _one_line(_cli({**env, "NEWSWORKER_BROKER_URL": UNREACHABLE_REDIS}, "dispatch"))
    assert "NEWSWORKER_BROKER_URL" in line and "127.0.0.1:1" in line


@pytest.mark.parametrize("how", ["--debug", "NEWSWORKER_LOG_LEVEL=debug"])
def test_debug_shows_the_traceback(env: dict[str, str], files: dict[str, str], how: str) -> None:
    flags = [how] if how.startswith("--") else []
    if not flags:
        env = {**env, "NEWSWORKER_LOG_LEVEL": "debug"}
    result = _cli(env, *flags, "enrich", files["deep.json"])
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RecursionError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("newsworker: ")


def test_a_sqlite_folder_that_does_not_exist_is_an_error_not_a_new_store(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    env = fleet_env(database_url=f"sqlite:///{missing / 'store.db'}")
    for args in (["feeds", "list"], ["db", "upgrade"], ["run", "--once"]):
        line = _one_line(_cli(env, *args))
        assert "NEWSWORKER_DATABASE_URL" in line and str(missing) in line, line
    assert not (tmp_path / "no").exists()
    # A new store in a folder that exists is fine.
    fresh = fleet_env(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    result = _cli(fresh, "feeds", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_import_opml_skips_an_invalid_outline_with_one_line_and_imports_the_rest(
    env: dict[str, str], tmp_path: Path
) -> None:
    opml = tmp_path / "mixed.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        '<outline text="bad" xmlUrl="http://[zz"/>'
        '<outline text="ftp" xmlUrl="ftp://files.example/feed"/>'
        '<outline text="good" xmlUrl="https://good.example/feed"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    result = _cli(env, "feeds", "import-opml", str(opml))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 2, result.stderr
    assert "http://[zz" in skipped[0] and "mixed.opml" in skipped[0]
    assert "ftp://files.example/feed" in skipped[1]
    assert "imported 1 new feeds" in result.stdout and "2 skipped" in result.stdout
    rows = json.loads(_cli(env, "feeds", "list", "--json").stdout)
    assert [row["url"] for row in rows] == ["https://good.example/feed"]
    # The same validation as `feeds add`.
    added = _cli(env, "feeds", "add", "--no-check", "http://[zz")
    assert "http://[zz" in _one_line(added)
