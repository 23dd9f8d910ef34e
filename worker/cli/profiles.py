"""`newsworker profiles ...`: import, export, show and remove entity profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from newsworker.config.settings import Settings
from newsworker.stages.enrich.profiles import ProfilePolicy
from newsworker.storage import profiles as profile_store
from newsworker.storage.db import session_for
from newsworker.worker.cli.boundary import about
from newsworker.worker.cli.context import console, err, fail
from newsworker.worker.cli.runtime import refresh_profile_stories
from newsworker.worker.cli.store import store_settings
from newsworker.worker.cli.wikidata import import_wikidata
from newsworker.worker.output import echo_json
from newsworker.worker.progress import progress

app = typer.Typer(
    help="Import and inspect entity profiles.", no_args_is_help=True, add_completion=False
)
app.command("import-wikidata")(import_wikidata)


def import_profiles_file(
    settings: Settings, path: Path, *, strict: bool, fmt: str | None, console: Console
) -> profile_store.ImportReport:
    """Import a JSON Lines or CSV file with a progress bar on a terminal."""
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"--format must be jsonl or csv, not {fmt!r}")
    policy = ProfilePolicy(summary_max_chars=settings.profile_summary_max_chars)
    size = path.stat().st_size
    with (
        progress(console, f"importing {path.name}", total=size, unit="bytes") as report_progress,
        path.open(encoding="utf-8", newline="") as handle,
        session_for(settings.database_url) as session,
    ):

        def lines() -> Iterator[str]:
            for line in handle:
                report_progress.advance(len(line.encode("utf-8")))
                yield line

        return profile_store.import_profiles(
            session=session,
            lines=lines(),
            fmt="csv" if fmt == "csv" else "jsonl",
            strict=strict,
            policy=policy,
        )


@app.command("import")
def profiles_import(
    file: Path,
    strict: Annotated[
        bool, typer.Option("--strict", help="Import nothing if any line is bad.")
    ] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: by suffix).")
    ] = None,
) -> None:
    """Upsert profiles from JSON Lines (or CSV); report created, updated, unchanged, rejected."""
    cfg = store_settings(logs="quiet")
    if not file.exists():
        raise fail(f"{file}: no such file")
    with about(str(file)):
        report = import_profiles_file(cfg, file, strict=strict, fmt=fmt, console=err)
    for line_number, reason in report.rejected[:50]:
        err.print(f"{file}:{line_number}: rejected: {reason}", highlight=False)
    console.print(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}",
        highlight=False,
    )
    if strict and report.rejected:
        raise typer.Exit(1)
    if report.changed:
        refresh_profile_stories(cfg)


@app.command("export")
def profiles_export() -> None:
    """Write every profile as JSON Lines on stdout."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        for row in profile_store.export_rows(session=session):
            echo_json(row, ensure_ascii=False)


@app.command("show")
def profiles_show(profile_id: str) -> None:
    """Print one profile as JSON."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        found = profile_store.get_profile(session=session, profile_id=profile_id)
        profile = profile_store.profile_row(found) if found else None
    if profile is None:
        raise fail(f"no profile {profile_id!r}")
    echo_json(profile, indent=2, ensure_ascii=False)


@app.command("remove")
def profiles_remove(profile_id: str) -> None:
    """Remove one profile."""
    cfg = store_settings()
    with session_for(cfg.database_url) as session:
        removed = profile_store.remove_profile(session=session, profile_id=profile_id)
        session.commit()
    if not removed:
        raise fail(f"no profile {profile_id!r}")
    console.print(f"removed {profile_id}")
