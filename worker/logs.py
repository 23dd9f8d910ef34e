"""Logging: structured JSON in workers, readable lines on a terminal, both through the output
layer (no secrets, no control characters)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from newsworker.config.settings import Settings
from newsworker.worker.output import escape_for_terminal, redact, register_secrets, to_json

__all__ = ["ConsoleFormatter", "JsonFormatter", "configure_logging", "redact"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, event, logger and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Redacted value by value (see to_json), so a pattern can never eat JSON syntax.
        return to_json(entry, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """A readable line: time, level, event, then key=value fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}" + (
            f"  {extras}" if extras else ""
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return escape_for_terminal(line)


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Set up the root logger once: JSON when not on a terminal (or asked), console otherwise."""
    register_secrets(settings.secret_values())
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel("WARNING" if quiet else settings.log_level)
    for noisy in ("httpx", "httpcore", "alembic", "celery.redirected"):
        logging.getLogger(noisy).setLevel("WARNING")
    # "celery@host ready." and the shutdown lines, at any level: supervisors and tests wait on it.
    logging.getLogger("celery.apps.worker").setLevel("INFO")
