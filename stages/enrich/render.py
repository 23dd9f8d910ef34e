"""Attach profile snapshots to matches and render the story text in the seed-story form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from newsworker.stages.records import AttachedEntity, Citation, EntityMatch, ProfileSnapshot

SECTION_TITLES = (
    ("person", "About the People Mentioned"),
    ("organization", "About the Organizations Mentioned"),
    ("other", "About Other Entities Mentioned"),
)


def attach_profiles(
    matches: Sequence[EntityMatch], snapshots: Mapping[str, ProfileSnapshot]
) -> tuple[AttachedEntity, ...]:
    """Pair each match with its profile snapshot, in order of first mention; skip unknown ids."""
    ordered = sorted(
        (m for m in matches if m.mentions), key=lambda m: min(x.start for x in m.mentions)
    )
    seen: set[str] = set()
    attached = []
    for match in ordered:
        snapshot = snapshots.get(match.profile_id)
        if snapshot is None or match.profile_id in seen:
            continue
        seen.add(match.profile_id)
        attached.append(AttachedEntity(match=match, profile=snapshot))
    return tuple(attached)


def _section_of(profile_type: str) -> str:
    return profile_type if profile_type in ("person", "organization") else "other"


def render_profile(profile: ProfileSnapshot) -> list[str]:
    """The lines for one profile: name, summary, then its numbered sources."""
    lines = [profile.name]
    if profile.summary:
        lines.append(profile.summary)
    if profile.sources:
        cited = "; ".join(
            f"[{number}] {source.title} — {source.url}"
            for number, source in enumerate(profile.sources, start=1)
        )
        lines.append(f"Sources: {cited}")
    return lines


def render_story(
    *,
    title: str,
    text: str,
    entities: Sequence[AttachedEntity],
    sources: Sequence[Citation] = (),
) -> str:
    """The story as text: title, body, its own sources, then a section per entity type."""
    lines = [title.strip(), text.strip()]
    if sources:
        # The markers kept in the text point here, so a reader of the text alone can follow them.
        cited = "; ".join(f"[{s.number}] {s.title} — {s.url}" for s in sources)
        lines.append(f"Sources: {cited}")
    ordered = sorted(entities, key=lambda e: min((m.start for m in e.match.mentions), default=0))
    for section, heading in SECTION_TITLES:
        seen: set[str] = set()
        profiles = []
        for entity in ordered:
            if _section_of(entity.profile.type) == section and entity.profile.id not in seen:
                seen.add(entity.profile.id)
                profiles.append(entity.profile)
        if not profiles:
            continue
        lines.append(heading)
        for profile in profiles:
            lines.extend(render_profile(profile))
    return "\n".join(line for line in lines if line) + "\n"
