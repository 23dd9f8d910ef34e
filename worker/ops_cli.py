"""Operations commands: health, status, metrics, prune (registered on the main CLI)."""

from __future__ import annotations

import typer


def register_ops_commands(app: typer.Typer) -> None:
    """Add the operations commands to the main CLI."""
