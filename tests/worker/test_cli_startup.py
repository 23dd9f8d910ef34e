"""`newsworker --version` and `--help` answer without the libraries they do not use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.fleet import ROOT

PROBE = (
    "import sys\n"
    "sys.argv = ['newsworker', *sys.argv[1:]]\n"
    "from newsworker.worker.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules)))\n"
)


def _modules_after(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(eval(result.stdout.strip().splitlines()[-1]))


def test_version_is_answered_before_typer_is_imported() -> None:
    modules = _modules_after("--version")
    assert not modules & {"typer", "rich", "click"}


@pytest.mark.parametrize("args", [("--help",), ("nosuch",)])
def test_root_help_and_usage_errors_import_no_rich_help_formatter(args: tuple[str, ...]) -> None:
    modules = _modules_after(*args)
    assert not modules & {"typer.rich_utils", "rich.markdown", "rich.console", "pygments"}
