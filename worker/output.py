"""The one output layer: everything shown to a person or a script passes through here.

Text from outside (feed titles, URLs, error messages, stored rows) is made safe in one place
(`safe_text`: secrets masked, control characters shown as `\\xNN`, no Rich markup). The consoles
here apply it to every string they render; `echo`, `echo_json` and `error_line` do it for plain
output.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from newsworker.worker.safe_text import (
    echo,
    echo_json,
    error_line,
    escape_for_terminal,
    forget_secrets,
    one_line,
    redact,
    register_secrets,
    safe_value,
    to_json,
)

__all__ = [
    "SafeConsole",
    "console",
    "echo",
    "echo_json",
    "err",
    "error_line",
    "escape_for_terminal",
    "forget_secrets",
    "one_line",
    "redact",
    "register_secrets",
    "safe_value",
    "styled",
    "to_json",
]


class SafeConsole(Console):
    """A Rich console that renders every string literally (no markup) and safely (see above)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, highlight=False, **options)

    def render_str(self, text: str, **options: Any) -> Text:
        """Every string printed or placed in a table, panel or title comes through here."""
        options["markup"] = False
        return super().render_str(escape_for_terminal(text), **options)


def styled(text: str, style: str) -> Text:
    """Text in a style (for our own labels: ok, FAIL, error), escaped like any other text."""
    return Text(escape_for_terminal(text), style=style)


console = SafeConsole()
err = SafeConsole(stderr=True)
