"""Structured logs: JSON fields from the task context, and no credentials in any output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from newsworker.worker.log_context import (
    LogContextFilter,
    bind_log_context,
    current_log_context,
    install_log_context_filter,
    log_context,
    reset_log_context,
)
from newsworker.worker.logs import ConsoleFormatter, JsonFormatter, redact
from newsworker.worker.output import forget_secrets, register_secrets
from newsworker.worker.signals import bind_task_context, clear_task_context


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("newsworker.test.ops_logging")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    install_log_context_filter(logger)
    yield logger, stream
    logger.handlers = []
    reset_log_context()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_task_context_and_redact_credentials(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    with log_context(task_id="t-1", feed_id=7, feed_url="https://alice:s3cret@feeds.example/rss"):
        logger.info("feed polled", extra={"story_id": "st-9", "new": 3})
    logger.info("after the task")

    first, second = _lines(stream)
    assert first["event"] == "feed polled" and first["level"] == "info"
    assert str(first["timestamp"]).endswith("Z")
    assert (first["task_id"], first["feed_id"], first["story_id"], first["new"]) == (
        "t-1",
        7,
        "st-9",
        3,
    )
    assert "s3cret" not in stream.getvalue()
    assert first["feed_url"] == "https://alice:***@feeds.example/rss"
    assert "task_id" not in second and "feed_id" not in second


def test_a_secret_query_parameter_at_the_end_of_a_value_keeps_the_json_valid(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("fetch", extra={"feed_url": "https://feeds.example/rss?token=abc"})
    line = _lines(stream)[0]
    assert line["feed_url"] == "https://feeds.example/rss?token=***"


def test_an_explicit_extra_wins_over_the_context(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    with log_context(feed_id=1):
        logger.info("other feed", extra={"feed_id": 2})
    assert _lines(stream)[0]["feed_id"] == 2


def test_celery_task_signals_bind_and_clear_the_context(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    task = SimpleNamespace(name="newsworker.poll_feed")
    bind_task_context(task_id="abc-123", task=task, args=(42,), kwargs={})
    assert current_log_context()["feed_id"] == 42
    logger.info("inside")
    clear_task_context(task_id="abc-123")
    logger.info("outside")
    inside, outside = _lines(stream)
    assert (inside["task_id"], inside["task_name"], inside["feed_id"]) == (
        "abc-123",
        "newsworker.poll_feed",
        42,
    )
    assert "task_id" not in outside


def test_console_lines_are_readable_and_redacted() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "fetch failed", (), None)
    record.feed_url = "http://bob:hunter2@127.0.0.1/feed"
    LogContextFilter().filter(record)
    line = ConsoleFormatter().format(record)
    assert "WARNING" in line and "fetch failed" in line
    assert "hunter2" not in line and "feed_url=http://bob:***@127.0.0.1/feed" in line


def test_exceptions_are_redacted_too(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ConnectionError("cannot reach redis://:p4ss@10.0.0.5:6379/0")
    except ConnectionError:
        logger.exception("broker down")
    assert "p4ss" not in stream.getvalue()
    assert "redis://:***@10.0.0.5" in _lines(stream)[0]["exception"]  # type: ignore[operator]


def test_redact_leaves_plain_urls_alone() -> None:
    assert redact("https://example.org/feed?page=2") == "https://example.org/feed?page=2"


def test_bind_skips_none_and_reset_restores() -> None:
    token = bind_log_context(task_id="a", story_id=None)
    assert current_log_context() == {"task_id": "a"}
    reset_log_context(token)
    assert current_log_context() == {}


def test_log_lines_escape_controls_and_mask_registered_secrets(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    register_secrets(["webhook-signing-secret-1"])
    try:
        logger.warning("title \x1b[2J\x07 \x9b [Live]", extra={"key": "webhook-signing-secret-1"})
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "bad \x1b]0;t\x07", (), None)
        record.secret = "webhook-signing-secret-1"
        console_line = ConsoleFormatter().format(record)
    finally:
        forget_secrets()
    raw = stream.getvalue()
    assert not any(ch in raw + console_line for ch in "\x1b\x07\x9b")
    assert "webhook-signing-secret-1" not in raw + console_line
    line = _lines(stream)[0]
    assert line["event"] == "title \x1b[2J\x07 \x9b [Live]" and line["key"] == "***"
    assert "bad \\x1b]0;t\\x07" in console_line and "secret=***" in console_line
