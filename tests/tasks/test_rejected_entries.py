"""Rejected entries are counted by reason: in the run summary, the metrics and `feeds errors`."""

from __future__ import annotations

import io
from pathlib import Path

from prometheus_client import REGISTRY
from rich.console import Console
from typer.testing import CliRunner

from newsworker.config.settings import load_settings
from newsworker.storage import feeds as feed_store
from newsworker.storage.db import session_for
from newsworker.storage.migrate import upgrade
from newsworker.tasks.pipeline.rejections import OTHER_REASON, rejection_reason
from newsworker.tasks.runtime import build_runtime, set_runtime
from newsworker.worker.cli import app
from newsworker.worker.running import run_once
from tests.support.fleet import fleet_env

GOOD = (
    "<item><title>Council meets</title><link>https://town.example.org/{n}</link>"
    "<guid>good-{n}</guid><description>The council met on Monday.</description></item>"
)
# No title, no link, no content: nothing to make a story of.
EMPTY = "<item><guid>empty-{n}</guid><description></description></item>"


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Town</title>'
        f"<link>https://town.example.org/</link>{''.join(items)}</channel></rss>"
    ).encode()


def _rejected_metric(reason: str) -> float:
    value = REGISTRY.get_sample_value("newsworker_entries_rejected_total", {"reason": reason})
    return value or 0.0


def test_rejected_entries_are_counted_by_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = load_settings(
        database_url=url,
        broker_url=None,
        redis_url=None,
        jsonl_path=tmp_path / "stories.jsonl",
        allow_file_urls=True,
        prepare_processes=0,
    )
    upgrade(url)
    feed_file = tmp_path / "town.xml"
    feed_file.write_bytes(_rss(GOOD.format(n=1), *(EMPTY.format(n=n) for n in range(7))))
    with session_for(url) as session:
        feed, _ = feed_store.add_feed(session=session, url=feed_file.as_uri())
        session.commit()
        feed_id = feed.id
    before = _rejected_metric("empty")
    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        summary = run_once(runtime, all_feeds=True, console=Console(file=io.StringIO()))
    finally:
        set_runtime(None)

    assert (summary.new_stories, summary.errors) == (1, 0)
    assert summary.rejected == 7
    assert summary.rejected_by_reason == {"empty": 7}
    assert summary.as_dict()["rejected_by_reason"] == {"empty": 7}
    table = Console(file=io.StringIO(), width=80)
    table.print(summary.table())
    assert "entries rejected" in table.file.getvalue()  # type: ignore[attr-defined]
    assert "7 (empty 7)" in table.file.getvalue()  # type: ignore[attr-defined]
    assert _rejected_metric("empty") - before == 7

    with session_for(url) as session:
        assert feed_store.rejected_entry_counts(session=session) == {feed_id: {"empty": 7}}

    env = fleet_env(database_url=url)
    result = CliRunner().invoke(app, ["feeds", "errors", str(feed_id)], env=env)
    assert result.exit_code == 0, result.output
    assert "rejected entries on record, empty: 7" in result.output


def test_reason_codes_are_few_and_known() -> None:
    message = "entry 3: entry has no title, no link and no content in feed https://a.example/f"
    assert rejection_reason(message) == "empty"
    assert rejection_reason("entry 4: something new went wrong") == OTHER_REASON
