"""No output path shows a secret: every command below runs as a subprocess with a password in its
URLs, and its stdout and stderr are searched for it."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from newsworker.storage.db import create_db_engine
from newsworker.storage.migrate import upgrade
from newsworker.storage.models import Delivery, DeliveryStatus, OutboxEvent
from tests.support.fleet import NEWSWORKER, ROOT, fleet_env

SECRET = "s3cretpw"
WEBHOOK_SECRET = f"{SECRET}-signing-key"
PG = f"postgresql://u:{SECRET}@127.0.0.1:1/db"
WEBHOOK_URL = f"https://hook:{SECRET}@127.0.0.1:9/x"
WEBHOOKS = json.dumps([{"name": "hook", "url": WEBHOOK_URL, "secret": WEBHOOK_SECRET}])


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSWORKER, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip


def _assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert SECRET not in output, output
    assert output.strip(), "the command printed nothing: the check proves nothing"


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A migrated SQLite store with one dead delivery whose error quotes the webhook's URL."""
    url = f"sqlite:///{tmp_path / 'secrets.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    with Session(engine) as session:
        event = OutboxEvent(story_id="st-1", revision=1, event="story.created", idempotency_key="k")
        session.add(event)
        session.flush()
        assert event.id is not None
        session.add(
            Delivery(
                event_id=event.id,
                sink="hook",
                status=DeliveryStatus.DEAD,
                attempts=8,
                next_attempt_at=datetime.now(UTC),
                last_error=f"POST {WEBHOOK_URL} refused; key {WEBHOOK_SECRET}",
            )
        )
        session.commit()
    engine.dispose()
    return url


@pytest.mark.parametrize(
    ("variables", "args"),
    [
        ({"DATABASE_URL": f"mysql://u:{SECRET}@db/x"}, ["feeds", "list"]),
        ({"BROKER_URL": f"amqp://u:{SECRET}@mq//"}, ["feeds", "list"]),
        ({"REDIS_URL": f"http://u:{SECRET}@r:6379/0"}, ["--debug", "feeds", "list"]),
        ({"WEBHOOKS": json.dumps([{"name": "h", "url": "https://x/", "secret": SECRET}])},
         ["feeds", "list"]),
        ({"DATABASE_URL": PG}, ["health"]),
        ({"DATABASE_URL": PG}, ["health", "--json"]),
        ({"DATABASE_URL": PG}, ["status"]),
        ({"DATABASE_URL": PG}, ["feeds", "list"]),
        ({"DATABASE_URL": PG}, ["--debug", "stories", "export"]),
        ({"DATABASE_URL": PG, "LOG_LEVEL": "debug"}, ["db", "current"]),
        ({"DATABASE_URL": PG, "LOG_FORMAT": "console"}, ["--debug", "run", "--once"]),
        ({"DATABASE_URL": PG, "LOG_FORMAT": "json"}, ["--debug", "run", "--once"]),
    ],
)  # fmt: skip
def test_settings_errors_and_unreachable_stores_never_show_the_password(
    tmp_path: Path, variables: dict[str, str], args: list[str]
) -> None:
    env = fleet_env(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    env.update({f"NEWSWORKER_{k}": v for k, v in variables.items()})
    _assert_no_secret(_cli(env, *args))


@pytest.mark.parametrize(
    "args",
    [
        ["stories", "dead-letters", "--json"],
        ["stories", "dead-letters"],
        ["--debug", "stories", "dead-letters", "--json"],
    ],
)
def test_dead_letters_never_show_the_webhook_password_or_key(store: str, args: list[str]) -> None:
    env = fleet_env(database_url=store, webhooks=WEBHOOKS)
    result = _cli({**env, "COLUMNS": "300"}, *args)
    assert result.returncode == 0, result.stderr
    _assert_no_secret(result)
    assert WEBHOOK_SECRET not in result.stdout
    if "--json" in args:
        (row,) = json.loads(result.stdout)
        assert row["last_error"] == "POST https://hook:***@127.0.0.1:9/x refused; key ***"


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_logs_of_a_failing_poll_never_show_the_feed_password(
    tmp_path: Path, log_format: str
) -> None:
    env = fleet_env(
        database_url=f"sqlite:///{tmp_path / 'logs.db'}",
        log_format=log_format,
        log_level="debug",
        allow_private_addresses="true",
        webhooks=WEBHOOKS,
        jsonl_path=str(tmp_path / "out.jsonl"),
    )
    added = _cli(env, "feeds", "add", "--no-check", f"http://u:{SECRET}@127.0.0.1:9/feed")
    _assert_no_secret(added)
    _assert_no_secret(_cli(env, "run", "--once", "--all"))
    _assert_no_secret(_cli(env, "feeds", "list", "--json"))
    _assert_no_secret(_cli(env, "feeds", "errors", "1"))
