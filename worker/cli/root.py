"""The `newsworker` root command: its options, and where each command lives.

Each command (or group of commands) is a module of this package, imported only when that
command runs or shows its help (see `lazy`), so `--help` starts fast. The root help is plain
click text: Typer's Rich help formatter costs about 0.3 s of imports (markdown, pygments).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

import newsworker
from newsworker.worker.cli.boundary import error_boundary
from newsworker.worker.cli.lazy import LazyCommand, LazyGroup

_CLI = "newsworker.worker.cli"

# In the order `newsworker --help` lists them. A summary is its command's docstring (or its
# group's help), repeated here so the listing needs no import; tests/test_cli.py checks both agree.
COMMANDS = {
    "demo": LazyCommand(
        f"{_CLI}.demo",
        "Import sample profiles, poll the bundled feeds once (eager, SQLite), show the stories.",
    ),
    "run": LazyCommand(
        f"{_CLI}.run",
        "Poll, process and publish in this process (eager); in a loop on the feeds' schedules.",
    ),
    "enrich": LazyCommand(
        f"{_CLI}.enrich",
        "Enrich one article (JSON: title, text or html, optional url) and print the story JSON.",
    ),
    "worker": LazyCommand(
        f"{_CLI}.fleet",
        "Run a Celery worker with our settings (extra options go to `celery worker`).",
    ),
    "beat": LazyCommand(
        f"{_CLI}.fleet",
        "Run the scheduler (celery beat with a RedBeat lock: one active, others on hot standby).",
    ),
    "dispatch": LazyCommand(
        f"{_CLI}.dispatch", "Enqueue one poll per due feed on the broker, and return."
    ),
    "health": LazyCommand(
        f"{_CLI}.health",
        "Check database, Redis, queues, outbox, stream, feeds and last poll; exit 1 if unhealthy.",
    ),
    "status": LazyCommand(
        f"{_CLI}.health",
        "Show health, the busiest feeds (articles in 24 h) and the most failing feeds.",
    ),
    "metrics": LazyCommand(
        f"{_CLI}.ops",
        "Serve Prometheus metrics: the workers' multiprocess files if shared, plus store gauges.",
    ),
    "prune": LazyCommand(
        f"{_CLI}.ops",
        "Delete old articles, stories, sent deliveries and feed errors in batches, safely.",
    ),
    "feeds": LazyCommand(f"{_CLI}.feeds", "Register and manage feeds.", group=True),
    "profiles": LazyCommand(f"{_CLI}.profiles", "Import and inspect entity profiles.", group=True),
    "stories": LazyCommand(
        f"{_CLI}.stories", "Read, consume and replay published stories.", group=True
    ),
    "db": LazyCommand(f"{_CLI}.db", "Database migrations.", group=True),
}


class RootGroup(LazyGroup):
    """The `newsworker` group: every command above, imported on use."""

    lazy_commands = COMMANDS

    def invoke(self, ctx: Any) -> Any:
        """Run the command inside the error boundary: failures end as one line (see boundary)."""
        with error_boundary(debug=bool(ctx.params.get("debug"))):
            return super().invoke(ctx)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"newsworker {newsworker.__version__}")
        raise typer.Exit()


# No locals in tracebacks: they can hold URLs with credentials and webhook secrets.
app = typer.Typer(
    cls=RootGroup,
    help="newsworker: feeds in, enriched stories out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show tracebacks (redacted) and log at debug level."),
    ] = False,
) -> None:
    """newsworker: feeds in, enriched stories out."""
