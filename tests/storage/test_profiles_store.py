"""The profile store on SQLite and PostgreSQL: import, upsert, strict mode, lookups, version."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from newsworker.stages.enrich import EntityMatcher, ProfilePolicy, load_or_build_matcher
from newsworker.stages.enrich.profiles import (
    CUE_SUMMARY_CHARS,
    matchable_from_input,
    normalize_profile,
)
from newsworker.storage.models import ArticleRecord, Feed, Story, StoryEntity, utcnow
from newsworker.storage.profile_version import profiles_version
from newsworker.storage.profiles import (
    export_rows,
    get_profile,
    import_profiles,
    iter_profiles,
    load_matchable_profiles,
    load_snapshots,
    remove_profile,
    stories_to_refresh,
)


def line(
    pid: str, name: str = "Ana Petrović", summary: str = "A politician.[1]", **extra: object
) -> str:
    raw = {
        "id": pid,
        "type": "person",
        "name": name,
        "aliases": ["Ana P."],
        "summary": summary,
        "sources": [{"title": "Wiki", "url": "https://example.org/a"}],
        **extra,
    }
    return json.dumps(raw, ensure_ascii=False)


def test_import_creates_updates_and_reports_unchanged(session: Session) -> None:
    report = import_profiles(session=session, lines=[line("Q1"), line("Q2", "Ivo Kern")])
    assert (report.created, report.updated, report.unchanged, report.rejected) == (2, 0, 0, [])
    first_version = profiles_version(session=session)
    assert first_version is not None
    before = get_profile(session=session, profile_id="Q1")
    assert before is not None
    before_version = before.version

    report = import_profiles(
        session=session, lines=[line("Q1", summary="A new text."), line("Q2", "Ivo Kern")]
    )
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    after = get_profile(session=session, profile_id="Q1")
    assert after is not None and after.summary == "A new text." and after.version != before_version
    assert profiles_version(session=session) != first_version

    unchanged_version = profiles_version(session=session)
    report = import_profiles(session=session, lines=[line("Q1", summary="A new text.")])
    assert report.unchanged == 1
    assert profiles_version(session=session) == unchanged_version


def test_bad_lines_are_rejected_with_line_number_and_reason(session: Session) -> None:
    lines = [line("Q1"), "{not json", line("Q3", type="planet"), "", line("Q5")]
    report = import_profiles(session=session, lines=lines, batch_size=1)
    assert report.created == 2
    assert [number for number, _ in report.rejected] == [2, 3]
    assert "type" in report.rejected[1][1]


def test_strict_import_keeps_nothing_when_a_line_is_bad(session: Session) -> None:
    lines = [line("Q1"), line("Q2"), line("Q3", sources="oops"), line("Q4")]
    report = import_profiles(session=session, lines=lines, strict=True, batch_size=1)
    assert report.created == 0 and [n for n, _ in report.rejected] == [3]
    assert get_profile(session=session, profile_id="Q1") is None
    assert profiles_version(session=session) is None


def test_csv_import_from_a_file_with_progress(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "profiles.csv"
    sources = json.dumps([{"title": "Site", "url": "https://example.org/x"}]).replace('"', '""')
    path.write_text(
        "id,type,name,aliases,summary,sources\n"
        f'O1,organization,Northwind Traders,NWT|Northwind,"A trading firm.[1][2]","{sources}"\n'
        "O2,organization,,,No name,[]\n",
        encoding="utf-8",
    )
    seen: list[int] = []
    report = import_profiles(session=session, lines=path, fmt="csv", progress=seen.append)
    assert report.created == 1 and [n for n, _ in report.rejected] == [3]
    assert seen and seen[-1] == 2
    stored = get_profile(session=session, profile_id="O1")
    assert stored is not None
    assert stored.aliases == ["NWT", "Northwind"] and stored.summary == "A trading firm.[1]"


def test_summary_policy_is_applied(session: Session) -> None:
    long_summary = "First sentence here. Second sentence is longer than the limit allows."
    import_profiles(
        session=session,
        lines=[line("Q1", summary=long_summary)],
        policy=ProfilePolicy(summary_max_chars=40),
    )
    stored = get_profile(session=session, profile_id="Q1")
    assert stored is not None and stored.summary == "First sentence here."


def test_lookups_snapshots_export_and_remove(session: Session) -> None:
    import_profiles(session=session, lines=[line(f"Q{n}", f"Name{n} Person") for n in range(5)])
    assert [p.id for p in iter_profiles(session=session, batch_size=2)] == [
        f"Q{n}" for n in range(5)
    ]
    assert len(list(export_rows(session=session))) == 5
    snapshots = load_snapshots(session=session, ids={"Q1", "Q3", "missing"})
    assert set(snapshots) == {"Q1", "Q3"}
    assert snapshots["Q1"].sources[0].url == "https://example.org/a"
    version = profiles_version(session=session)
    assert remove_profile(session=session, profile_id="Q1") is True
    assert remove_profile(session=session, profile_id="Q1") is False
    assert profiles_version(session=session) != version
    assert "Q1" not in {p.id for p in iter_profiles(session=session)}


def test_matcher_builds_from_the_store(session: Session) -> None:
    import_profiles(
        session=session,
        lines=[line("Q1", "Ana Petrović", summary="Ana Petrović is a Serbian minister.")],
    )
    profiles = load_matchable_profiles(session=session, batch_size=1)
    assert [p.id for p in profiles] == ["Q1"] and "serbian" in profiles[0].cues
    matcher = EntityMatcher.build(profiles)
    assert [m.profile_id for m in matcher.match("Ana Petrovic spoke. Petrović left.")] == ["Q1"]


def test_store_and_stage_give_one_profile_the_same_view(session: Session) -> None:
    """The store's matcher input and snapshot equal the ones built from the validated profile."""
    opening = "Ana Petrović is a Serbian minister. " + "Filler words here. " * 13
    summary = opening + "Croatian roots. A Slovenian."
    # The last cue word inside the opening ends just before the cut, the next starts after it.
    assert summary.index("roots") + len("roots") < CUE_SUMMARY_CHARS < summary.index("Slovenian")
    raw = json.loads(
        line(
            "Q1",
            summary=summary,
            sources=[{"title": "Wiki", "url": "https://example.org/a", "licence": "CC BY-SA"}],
        )
    )
    import_profiles(session=session, lines=[json.dumps(raw)])
    validated = normalize_profile(raw, policy=ProfilePolicy())

    stored = load_matchable_profiles(session=session)
    assert stored == [matchable_from_input(validated)]
    assert {"serbian", "roots"} <= set(stored[0].cues) and "slovenian" not in stored[0].cues

    snapshot = load_snapshots(session=session, ids={"Q1"})["Q1"]
    assert snapshot == validated.snapshot(snapshot.updated_at)
    row = next(export_rows(session=session))
    assert {k: v for k, v in row.items() if k != "updated_at"} == validated.to_row()


def test_stories_carrying_a_changed_profile_are_found_for_refresh(session: Session) -> None:

    import_profiles(session=session, lines=[line("Q1"), line("Q2", "Ivo Kern")])
    old = {p.id: p.version for p in iter_profiles(session=session)}
    feed = Feed(url="http://127.0.0.1/feed.xml")
    session.add(feed)
    session.flush()
    now = utcnow()
    for number, (story_id, age_days) in enumerate((("s-new", 1), ("s-old", 30))):
        article = ArticleRecord(
            feed_id=feed.id or 0,
            entry_key=f"e{number}",
            story_id=story_id,
            title="t",
            published_at=now,
            content_hash="h",
        )
        session.add(article)
        session.flush()
        stamp = now - timedelta(days=age_days)
        session.add(
            Story(
                story_id=story_id,
                primary_article_id=article.id or 0,
                created_at=stamp,
                updated_at=stamp,
            )
        )
        session.flush()
        session.add(StoryEntity(story_id=story_id, profile_id="Q1", profile_version=old["Q1"]))
        session.add(StoryEntity(story_id=story_id, profile_id="Q2", profile_version=old["Q2"]))
    session.commit()
    window = now - timedelta(days=7)
    assert stories_to_refresh(session=session, since=window) == []
    import_profiles(session=session, lines=[line("Q1", summary="Changed.")])
    assert stories_to_refresh(session=session, since=window) == ["s-new"]


def test_matcher_cache_follows_the_profile_version(session: Session, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def current() -> tuple[str | None, EntityMatcher]:
        version = profiles_version(session=session)
        matcher = load_or_build_matcher(
            version=version,
            profiles=lambda: load_matchable_profiles(session=session),
            cache_dir=cache,
        )
        return version, matcher

    import_profiles(session=session, lines=[line("Q1", "Ana Petrović")])
    version, _ = current()
    assert version is not None
    assert [p.name for p in cache.iterdir()] == [f"matcher-{version}.bin"]
    again_version, again = current()
    assert again_version == version and again.profile_count == 1
    import_profiles(session=session, lines=[line("Q2", "Ivo Kern")])
    new_version, rebuilt = current()
    assert new_version != version and rebuilt.profile_count == 2
    assert [p.name for p in cache.iterdir()] == [f"matcher-{new_version}.bin"]
    (cache / f"matcher-{new_version}.bin").write_bytes(b"torn")
    _, recovered = current()
    assert [m.profile_id for m in recovered.match("Ivo Kern spoke.")] == ["Q2"]
