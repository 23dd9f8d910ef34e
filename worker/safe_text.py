"""Safe plain output: redaction and escaping for everything shown to a person or a script.

Text from outside (feed titles, URLs, error messages, stored rows) is made safe in one place:
secrets are masked (URL passwords, secret parameters and the settings' own secret values),
control characters and escape sequences are shown as `\\xNN` instead of reaching the terminal,
and Rich markup is never interpreted, so "[Live] Update" prints as written. `echo`, `echo_json`
and `error_line` do it for plain output; `output`'s Rich consoles apply it to what they render.
Rich is not imported here: the CLI's error boundary needs only this, and Rich costs about 0.1 s
to import on every `newsworker --help`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from newsworker.config.redaction import MASK, redact_urls

# C0 controls but tab and newline, DEL, C1 controls, the bidirectional overrides that can
# make text read differently from what it is.
# make text read differently from what it is; and lone surrogates, which no terminal can take.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Inside JSON strings json.dumps already escapes C0; these it leaves raw with ensure_ascii off.
_JSON_RAW = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Shorter secrets would mask ordinary words; URL-form passwords of any length are masked anyway.
MIN_SECRET_LENGTH = 8


class _Secrets:
    """The secret values no output may show, and one pattern that finds any of them."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str | None]) -> None:
        self.values.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)
        if self.values:
            # Longest first, and never inside a longer word ("postgres" in "postgresql").
            ordered = sorted(self.values, key=len, reverse=True)
            alternatives = "|".join(re.escape(v) for v in ordered)
            self.pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")

    def clear(self) -> None:
        self.values.clear()
        self.pattern = None


_secrets = _Secrets()


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values (from settings) so that no output shows them."""
    _secrets.add(values)


def forget_secrets() -> None:
    """Forget every registered secret value (tests)."""
    _secrets.clear()


def redact(text: str) -> str:
    """Mask secrets: URL passwords (`postgresql://u:***@host/db`) and registered secret values."""
    text = redact_urls(text)
    return _secrets.pattern.sub(MASK, text) if _secrets.pattern is not None else text


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_for_terminal(text: str) -> str:
    """Redact, and show control characters and escape sequences as `\\xNN` text."""
    return _CONTROL.sub(_visible, redact(text))


def one_line(text: str) -> str:
    """escape_for_terminal, with line breaks folded so a message stays on one line."""
    return escape_for_terminal(" ".join(text.split("\n")).replace("\t", " "))


def safe_value(value: Any) -> Any:
    """A JSON-ready value with every string in it redacted (keys are our own names)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: safe_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_value(item) for item in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


def to_json(value: Any, **options: Any) -> str:
    """JSON text of a redacted value, with control characters escaped inside its strings."""
    options.setdefault("default", str)
    text = json.dumps(safe_value(value), **options)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: str, *, to_stderr: bool = False) -> None:
    """Print plain text (a document, a line for scripts) as is, but redacted and escaped."""
    stream = sys.stderr if to_stderr else sys.stdout
    stream.write(escape_for_terminal(text) + "\n")
    stream.flush()


def echo_json(value: Any, **options: Any) -> None:
    """Print a value as JSON on stdout (see to_json)."""
    sys.stdout.write(to_json(value, **options) + "\n")
    sys.stdout.flush()


def error_line(message: str) -> None:
    """One line on stderr, never wrapped, for errors a person acts on."""
    sys.stderr.write(one_line(message) + "\n")
    sys.stderr.flush()
