"""Per-task logging context: task_id, feed_id, feed_url and story_id on every log record.

Values live in contextvars (safe across threads and prefork children); LogContextFilter copies
them onto records, so a log line from any module inside a task carries them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("newsworker_log_context", default=None)


def current_log_context() -> dict[str, Any]:
    """The fields bound in this context."""
    return dict(_context.get() or {})


def bind_log_context(**fields: Any) -> Token[dict[str, Any] | None]:
    """Add fields (None values are skipped) to the context; returns a token for reset."""
    merged = current_log_context()
    merged.update({k: v for k, v in fields.items() if v is not None})
    return _context.set(merged)


def reset_log_context(token: Token[dict[str, Any] | None] | None = None) -> None:
    """Restore the context before a bind (or clear it without a token)."""
    if token is None:
        _context.set(None)
    else:
        _context.reset(token)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields for the duration of a with block."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        reset_log_context(token)


class LogContextFilter(logging.Filter):
    """Copy the bound context onto each record, never overwriting a field the call gave."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context fields; always keep the record."""
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def install_log_context_filter(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of a logger (the root by default), once each."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, LogContextFilter) for f in handler.filters):
            handler.addFilter(LogContextFilter())
