"""`newsworker profiles import-wikidata`: load people and organisations from a Wikidata dump."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsworker.config.settings import Settings
from newsworker.stages.enrich.profiles import ProfilePolicy
from newsworker.stages.wikidata.classes import load_class_filter, load_common_words
from newsworker.stages.wikidata.scan import ScanOptions, ScanReport, wikidata_profiles
from newsworker.storage import profiles as profile_store
from newsworker.storage.db import session_for
from newsworker.storage.wikidata_state import revision_watermark, save_revision_watermark
from newsworker.worker.cli.context import console, err, fail
from newsworker.worker.cli.runtime import refresh_profile_stories
from newsworker.worker.cli.store import store_settings


def _since(cfg: Settings, value: str | None) -> int | None:
    if value is None:
        return None
    if value == "last":
        with session_for(cfg.database_url) as session:
            return revision_watermark(session=session)
    if not value.isdigit():
        raise fail(f"--since-revision must be a revision number or 'last', not {value!r}")
    return int(value)


def _progress_bar(total: int | None) -> Progress:
    return Progress(
        TextColumn("[bold]wikidata[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[mb]:,.0f} MB read"),
        TextColumn("{task.fields[rate]:,.0f} entities/s"),
        TextColumn("kept {task.fields[kept]:,}  skipped {task.fields[skipped]:,}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _summary(report: ScanReport, imported: profile_store.ImportReport, seconds: float) -> Table:
    table = Table(title="Wikidata import", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rate = report.entities / seconds if seconds > 0 else 0.0
    rows = [
        ("entities read", f"{report.entities:,}"),
        ("entities/s", f"{rate:,.0f}"),
        ("bytes read", f"{report.bytes_read:,}"),
        ("kept", f"{report.kept:,}"),
        *((f"skipped: {reason}", f"{n:,}") for reason, n in report.skipped.most_common()),
        ("profiles created", f"{imported.created:,}"),
        ("profiles updated", f"{imported.updated:,}"),
        ("profiles unchanged", f"{imported.unchanged:,}"),
        ("profiles rejected", f"{len(imported.rejected):,}"),
        ("claim labels wanted", f"{report.labels_wanted:,}"),
        ("claim labels not found", f"{report.labels_unresolved:,}"),
        ("highest lastrevid", f"{report.max_lastrevid or '-'}"),
    ]
    for what, count in rows:
        table.add_row(what, count)
    return table


def import_wikidata(
    file: Annotated[
        str, typer.Argument(help="A Wikidata JSON dump (plain, .gz, .bz2) or - for stdin.")
    ],
    languages: Annotated[
        str, typer.Option("--languages", help="Label languages in order of preference, e.g. en,de.")
    ] = "en",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Stop after this many kept entities.")
    ] = None,
    since_revision: Annotated[
        str | None,
        typer.Option(
            "--since-revision",
            help="Only entities with a newer lastrevid; 'last' uses the last import's watermark.",
        ),
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option("--classes", help="A file of organisation P31 class QIDs (default: shipped)."),
    ] = None,
) -> None:
    """Upsert people and organisations from a Wikidata JSON dump as profiles."""
    cfg = store_settings(logs="quiet")
    if file != "-" and not Path(file).exists():
        raise fail(f"{file}: no such file")
    try:
        class_filter = load_class_filter(classes)
    except (OSError, ValueError) as e:
        raise fail(f"--classes: {e}") from e
    options = ScanOptions(
        class_filter=class_filter,
        common_words=load_common_words(),
        languages=tuple(x.strip() for x in languages.split(",") if x.strip()) or ("en",),
        since_revision=_since(cfg, since_revision),
        limit=limit,
    )
    report = ScanReport()
    started = time.monotonic()
    total = None if file == "-" else Path(file).stat().st_size
    with _progress_bar(total) as bar:
        task = bar.add_task("wikidata", total=total, mb=0.0, rate=0.0, kept=0, skipped=0)

        def show(r: ScanReport) -> None:
            rate = r.entities / max(time.monotonic() - started, 1e-9)
            skipped = sum(r.skipped.values())
            bar.update(task, completed=r.bytes_read, mb=r.bytes_read / 1e6, rate=rate,
                       kept=r.kept, skipped=skipped)  # fmt: skip

        def lines() -> Iterator[str]:
            for profile in wikidata_profiles(file, options, report, show):
                yield orjson.dumps(profile).decode()

        with session_for(cfg.database_url) as session:
            imported = profile_store.import_profiles(
                session=session,
                lines=lines(),
                policy=ProfilePolicy(summary_max_chars=cfg.profile_summary_max_chars),
            )
            if report.completed and report.max_lastrevid is not None and limit is None:
                save_revision_watermark(session=session, revision=report.max_lastrevid)
    for line_number, problem in report.problems[:50]:
        err.print(f"{file}:{line_number}: skipped: {problem}", highlight=False)
    console.print(_summary(report, imported, time.monotonic() - started))
    console.print(
        f"created {imported.created}, updated {imported.updated}, "
        f"unchanged {imported.unchanged}, rejected {len(imported.rejected)}",
        highlight=False,
    )
    if imported.changed:
        refresh_profile_stories(cfg)
