"""Logging: structured JSON in workers, readable lines on a terminal, no secrets either way."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from newsworker.config.settings import Settings

_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@", re.IGNORECASE)
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:token|key|apikey|api_key|secret|password|sig)=)[^&\s]+")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def redact(text: str) -> str:
    """Remove credentials from URLs (user:password@ and secret query parameters)."""
    text = _CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _SECRET_PARAMS.sub(r"\1***", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


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
        # Redact each value, not the dumped line, so a pattern can never eat JSON syntax.
        safe = {key: _redact_value(value) for key, value in entry.items()}
        return json.dumps(safe, default=str, ensure_ascii=False)


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
        return redact(line)


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Set up the root logger once: JSON when not on a terminal (or asked), console otherwise."""
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
