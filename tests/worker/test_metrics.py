"""Prometheus exposition: multiprocess mode across forked children, HTTP serving, store gauges."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from newsworker.storage.migrate import upgrade
from newsworker.worker.metrics_server import build_registry, start_metrics_server
from tests.support.fleet import ROOT

# Runs in a fresh interpreter: multiprocess mode is chosen when prometheus_client is imported.
MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import os, sys, urllib.request
    from newsworker.worker.metrics_env import prepare_multiprocess_env, clear_multiprocess_dir
    folder = prepare_multiprocess_env(metrics_port=9)
    assert folder is not None and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    clear_multiprocess_dir()
    from prometheus_client import Gauge
    from newsworker.tasks import metrics
    from newsworker.worker.metrics_server import mark_child_dead, start_metrics_server

    busy = Gauge("test_busy_children", "live children", multiprocess_mode="livesum")
    children = []
    for n in range(3):
        pid = os.fork()
        if pid == 0:
            metrics.FETCHES.labels(outcome="2xx").inc()
            metrics.ENTRIES.labels(outcome="new").inc(5)
            metrics.MATCHER_ALIASES.set(100 + n)
            busy.set(1)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    mark_child_dead(children[0])
    server, _thread = start_metrics_server(0, host="127.0.0.1")
    port = server.server_port
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    server.shutdown()
    sys.stdout.write(body)
    """
)


def test_counters_from_forked_children_are_summed_and_served_over_http(tmp_path: Path) -> None:
    result = _run(MULTIPROCESS_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    body = result.stdout
    assert 'newsworker_fetches_total{outcome="2xx"} 3.0' in body
    assert 'newsworker_entries_total{outcome="new"} 15.0' in body
    # Live gauges of a child marked dead are dropped; the matcher gauges are one livemax series.
    assert "test_busy_children 2.0" in body
    assert "\nnewsworker_matcher_aliases 102.0\n" in body
    assert 'newsworker_matcher_aliases{pid="' not in body


# The worker entry point: the Celery app module, with the metrics port set and no folder given.
APP_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import newsworker.worker.app
    from prometheus_client import values
    from newsworker.tasks import metrics
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"], "no multiprocess folder"
    assert values.ValueClass is not values.MutexValue, "prometheus_client loaded single-process"
    assert metrics.FETCHES.labels(outcome="2xx")._value._multiprocess
    """
)


def _run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), **env},
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "entry",
    ["", "import newsworker.worker.cli"],
    ids=["celery -A newsworker.worker.app", "newsworker worker"],
)
def test_the_celery_app_turns_multiprocess_metrics_on_before_prometheus_loads(
    tmp_path: Path, entry: str
) -> None:
    result = _run(
        entry + "\n" + APP_SCRIPT,
        tmp_path,
        NEWSWORKER_METRICS_PORT="9100",
        NEWSWORKER_DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
    )
    assert result.returncode == 0, result.stderr


def test_store_gauges_are_read_at_scrape_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    text = generate_latest(build_registry(url)).decode()
    assert "newsworker_store_up 1.0" in text
    assert "newsworker_outbox_pending 0.0" in text
    assert "newsworker_outbox_oldest_pending_seconds 0.0" in text
    assert 'newsworker_feeds{status="active"} 0.0' in text


def test_an_unreadable_store_reports_down_without_failing_the_scrape(tmp_path: Path) -> None:
    server, _thread = start_metrics_server(
        0, host="127.0.0.1", database_url="postgresql://nobody@127.0.0.1:1/none"
    )
    try:
        port = server.server_port
        body = (
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        )
    finally:
        server.shutdown()
        server.server_close()
    assert "newsworker_store_up 0.0" in body
    assert "newsworker_outbox_pending" not in body
