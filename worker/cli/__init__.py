"""The `newsworker` command line. The commands and their options are in `root`.

`newsworker --version` is answered here, before Typer (about 0.1 s of imports) is loaded; any
other command loads `root`, which loads each command's module only when that command runs.
`app`, `COMMANDS` and the rest of `root` stay importable from here.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import newsworker

_ROOT = "newsworker.worker.cli.root"


def main() -> None:
    """Entry point of the `newsworker` script."""
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"newsworker {newsworker.__version__}\n")
        return
    # Loaded here, not at the top: `--version` above must not pay for Typer.
    importlib.import_module(_ROOT).app()


def __getattr__(name: str) -> Any:
    """`app`, `COMMANDS`, ... from `root`, loaded on first use (see the module docstring)."""
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_ROOT), name)
