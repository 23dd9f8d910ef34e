"""Profile management behind `newsworker profiles ...`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from newsworker.config.settings import Settings
from newsworker.stages.enrich.profiles import ProfilePolicy
from newsworker.storage import profiles as profile_store
from newsworker.storage.db import session_for
from newsworker.worker.progress import progress


def import_profiles_file(
    settings: Settings, path: Path, *, strict: bool, fmt: str | None, console: Console
) -> Any:
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

        report = profile_store.import_profiles(
            session=session,
            lines=lines(),
            fmt="csv" if fmt == "csv" else "jsonl",
            strict=strict,
            policy=policy,
        )
    return report


def export_profiles(settings: Settings) -> Iterator[str]:
    """Every profile as a JSON line."""
    with session_for(settings.database_url) as session:
        for row in profile_store.export_rows(session=session):
            yield json.dumps(row, ensure_ascii=False)


def show_profile(settings: Settings, profile_id: str) -> dict[str, Any] | None:
    """One profile as JSON, or None."""
    with session_for(settings.database_url) as session:
        profile = profile_store.get_profile(session=session, profile_id=profile_id)
        return profile_store.profile_row(profile) if profile else None


def remove_profile(settings: Settings, profile_id: str) -> bool:
    """Remove one profile; False when there was none."""
    with session_for(settings.database_url) as session:
        removed = profile_store.remove_profile(session=session, profile_id=profile_id)
        session.commit()
        return removed
