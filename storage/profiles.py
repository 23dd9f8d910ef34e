"""The profile store: batched upsert import, lookups, export, matcher inputs and snapshots."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlmodel import Session, col

from newsworker.stages.enrich.aliases import MatchableProfile
from newsworker.stages.enrich.profiles import (
    CUE_SUMMARY_CHARS,
    ProfileInput,
    ProfilePolicy,
    normalize_profile,
    profile_cues,
    read_profile_lines,
)
from newsworker.stages.records import ProfileSnapshot, ProfileSource
from newsworker.storage.models import EntityProfile, Story, StoryEntity, utcnow
from newsworker.storage.profile_version import bump_profiles_version


@dataclass
class ImportReport:
    """What an import did; rejected holds (line number, reason)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the import created or updated at least one profile."""
        return bool(self.created or self.updated)


def _lines_of(source: Iterable[str] | str | Path) -> Iterator[str]:
    if isinstance(source, (str, Path)):
        with Path(source).open(encoding="utf-8", newline="") as handle:
            yield from handle
    else:
        yield from source


def _row(profile: ProfileInput, now: datetime) -> dict[str, Any]:
    return {**profile.to_row(), "updated_at": now}


def _upsert_batch(session: Session, batch: dict[str, ProfileInput], report: ImportReport) -> None:
    """One IN query for the existing versions, then one bulk insert and one bulk update."""
    existing: dict[str, str] = dict(
        session.execute(
            select(col(EntityProfile.id), col(EntityProfile.version)).where(
                col(EntityProfile.id).in_(list(batch))
            )
        ).all()
    )
    now = utcnow()
    inserts, updates = [], []
    for profile_id, profile in batch.items():
        version = existing.get(profile_id)
        if version is None:
            inserts.append(_row(profile, now))
        elif version != profile.version:
            row = _row(profile, now)
            row["b_id"] = row.pop("id")
            updates.append(row)
        else:
            report.unchanged += 1
    table: Table = EntityProfile.__table__  # type: ignore[attr-defined]
    if inserts:
        session.execute(insert(table), inserts)
        report.created += len(inserts)
    if updates:
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(name) for name in updates[0] if name != "b_id"})
        )
        session.connection().execute(statement, updates)
        report.updated += len(updates)


def import_profiles(
    *,
    session: Session,
    lines: Iterable[str] | str | Path,
    fmt: Literal["jsonl", "csv"] = "jsonl",
    strict: bool = False,
    policy: ProfilePolicy | None = None,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert profiles from JSON Lines or CSV in batches; bad lines are reported by number.

    With strict=True one bad line means nothing is imported (the transaction is rolled back).
    progress, when given, is called with the number of records read so far after each batch.
    """
    policy = policy or ProfilePolicy()
    report = ImportReport()
    batch: dict[str, ProfileInput] = {}
    read = 0
    try:
        for line_number, raw, problem in read_profile_lines(_lines_of(lines), fmt=fmt):
            read += 1
            reason = problem
            if raw is not None:
                try:
                    profile = normalize_profile(raw, policy=policy)
                except ValueError as e:
                    reason = str(e)
                else:
                    # A later line for the same id wins, as it would row by row.
                    batch.pop(profile.id, None)
                    batch[profile.id] = profile
            if reason is not None:
                report.rejected.append((line_number, reason))
                if strict:
                    continue
            if len(batch) >= batch_size:
                _flush(session, batch, report, strict=strict)
                if progress is not None:
                    progress(read)
        _flush(session, batch, report, strict=strict)
        if strict and report.rejected:
            session.rollback()
            return ImportReport(rejected=report.rejected)
        if report.changed:
            bump_profiles_version(session=session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if progress is not None:
        progress(read)
    return report


def _flush(
    session: Session, batch: dict[str, ProfileInput], report: ImportReport, *, strict: bool
) -> None:
    if not batch:
        return
    if strict and report.rejected:
        batch.clear()  # nothing will be kept: stop writing, keep validating
        return
    changed_before = report.created + report.updated
    _upsert_batch(session, batch, report)
    batch.clear()
    if not strict:
        # Each committed batch carries a version bump, so an import that fails half-way still
        # tells the workers about the part that landed.
        if report.created + report.updated != changed_before:
            bump_profiles_version(session=session)
        session.commit()


def get_profile(*, session: Session, profile_id: str) -> EntityProfile | None:
    """One profile by its external id, or None."""
    return session.get(EntityProfile, profile_id, populate_existing=True)


def remove_profile(*, session: Session, profile_id: str) -> bool:
    """Delete a profile; True when it existed. Bumps the profile-set version and commits."""
    result = session.execute(delete(EntityProfile).where(col(EntityProfile.id) == profile_id))
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        bump_profiles_version(session=session)
    session.commit()
    return removed


def iter_profiles(*, session: Session, batch_size: int = 2000) -> Iterator[EntityProfile]:
    """Every profile in id order, read in keyset-paginated batches."""
    last: str | None = None
    while True:
        query = select(EntityProfile).order_by(col(EntityProfile.id)).limit(batch_size)
        if last is not None:
            query = query.where(col(EntityProfile.id) > last)
        rows = list(session.execute(query).scalars())
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        for row in rows:  # keep memory flat on a million rows, leave other objects alone
            if row in session:
                session.expunge(row)


def profile_row(profile: EntityProfile) -> dict[str, Any]:
    """One profile as a dict in the import format, plus version and updated_at."""
    return {
        "id": profile.id,
        "type": profile.type,
        "name": profile.name,
        "aliases": profile.aliases,
        "summary": profile.summary,
        "facts": profile.facts,
        "sources": profile.sources,
        "prior": profile.prior,
        "version": profile.version,
        "updated_at": profile.updated_at.isoformat().replace("+00:00", "Z"),
    }


def export_rows(*, session: Session) -> Iterator[dict[str, Any]]:
    """Every profile as a dict in the import format, for `profiles export`."""
    for profile in iter_profiles(session=session):
        yield profile_row(profile)


def load_matchable_profiles(*, session: Session, batch_size: int = 5000) -> list[MatchableProfile]:
    """What the matcher needs, streamed in batches: no sources, only a summary's opening."""
    columns = (
        col(EntityProfile.id),
        col(EntityProfile.type),
        col(EntityProfile.name),
        col(EntityProfile.aliases),
        col(EntityProfile.prior),
        func.substr(EntityProfile.summary, 1, CUE_SUMMARY_CHARS),
    )
    result: list[MatchableProfile] = []
    last: str | None = None
    while True:
        query = select(*columns).order_by(col(EntityProfile.id)).limit(batch_size)
        if last is not None:
            query = query.where(col(EntityProfile.id) > last)
        rows = session.execute(query).all()
        if not rows:
            return result
        for profile_id, kind, name, aliases, prior, opening in rows:
            aliases_tuple = tuple(aliases or ())
            result.append(
                MatchableProfile(
                    id=profile_id,
                    type=kind,
                    name=name,
                    aliases=aliases_tuple,
                    prior=prior,
                    cues=profile_cues(name, aliases_tuple, opening or ""),
                )
            )
        last = rows[-1][0]


def _snapshot(
    profile_id: str,
    kind: str,
    name: str,
    summary: str,
    sources: list[dict[str, Any]],
    version: str,
    updated_at: datetime,
) -> ProfileSnapshot:
    return ProfileSnapshot(
        id=profile_id,
        type=kind,
        name=name,
        summary=summary,
        sources=tuple(
            ProfileSource(
                title=s.get("title", ""),
                url=s.get("url", ""),
                retrieved_at=s.get("retrieved_at"),
                licence=s.get("licence"),
            )
            for s in sources
        ),
        version=version,
        updated_at=updated_at,
    )


def load_snapshots(*, session: Session, ids: Collection[str]) -> dict[str, ProfileSnapshot]:
    """Snapshots of the given profiles, by id; unknown ids are left out."""
    if not ids:
        return {}
    # Only the snapshot's columns, as plain rows: ORM objects with aliases, facts and identity
    # bookkeeping cost more than the query on the per-feed path.
    rows = session.execute(
        select(
            col(EntityProfile.id),
            col(EntityProfile.type),
            col(EntityProfile.name),
            col(EntityProfile.summary),
            col(EntityProfile.sources),
            col(EntityProfile.version),
            col(EntityProfile.updated_at),
        ).where(col(EntityProfile.id).in_(list(ids)))
    )
    return {
        profile_id: _snapshot(profile_id, kind, name, summary, sources, version, updated_at)
        for profile_id, kind, name, summary, sources, version, updated_at in rows
    }


def stories_to_refresh(*, session: Session, since: datetime) -> list[str]:
    """Stories updated at or after since that carry a profile at an older version.

    These are the recent stories to re-publish as `event: updated` (the freshness window).
    """
    query = (
        select(col(StoryEntity.story_id))
        .join(EntityProfile, col(EntityProfile.id) == col(StoryEntity.profile_id))
        .join(Story, col(Story.story_id) == col(StoryEntity.story_id))
        .where(col(Story.updated_at) >= since)
        .where(col(StoryEntity.profile_version) != col(EntityProfile.version))
        .distinct()
    )
    return list(session.execute(query).scalars())
