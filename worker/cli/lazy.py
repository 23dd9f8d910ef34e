"""A command group whose commands live in their own modules, imported only when needed.

The root `--help` lists every command from its one-line summary, so `newsworker --help` and
`newsworker --version` import no command module (nor Celery, SQLAlchemy, httpx or the matcher).
A command's module is imported when that command runs, completes or shows its own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives: a module with a Typer `app`, and the summary the root help shows."""

    module: str
    summary: str
    # True when the module's whole app is the command (a group such as `feeds`); otherwise the
    # command is the one of that app's commands carrying the registered name.
    group: bool = False

    def load(self, name: str) -> Any:
        """Import the module and return the click command registered as `name`."""
        module = importlib.import_module(self.module)
        built = typer.main.get_group(module.app)
        command = built if self.group else built.commands[name]
        command.name = name
        return command


class _Placeholder(TyperCommand):
    """A command's name and summary, standing in for it until it is needed."""

    def __init__(self, name: str, spec: LazyCommand) -> None:
        super().__init__(name=name, help=spec.summary)
        self.spec = spec

    def get_short_help_str(self, limit: int = 45) -> str:
        """The whole summary: the listing wraps it rather than cutting it at `limit`."""
        return self.spec.summary


class LazyGroup(TyperGroup):
    """A TyperGroup that imports each command's module on first use (see `lazy_commands`)."""

    lazy_commands: Mapping[str, LazyCommand] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Placeholders keep the listing order and give typo suggestions their names.
        for name, spec in self.lazy_commands.items():
            self.commands[name] = _Placeholder(name, spec)
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command named `cmd_name`, imported now unless only its summary is being listed."""
        command = self.commands.get(cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            command = self.commands[cmd_name] = command.spec.load(cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """This group's help, listing commands by their summaries without importing them."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
