"""The pure enrichment path: dev-set quality, the seed story, attach and render."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsworker.stages.enrich import (
    EntityMatcher,
    ProfilePolicy,
    attach_profiles,
    matchable_from_input,
    normalize_profile,
    render_story,
)
from newsworker.stages.enrich.profiles import ProfileInput
from newsworker.stages.publish.story import assemble_story
from newsworker.stages.records import Article, Citation, FeedRef


def dev_profiles(shared_dir: Path) -> list[ProfileInput]:
    path = shared_dir / "samples" / "entities-dev" / "profiles.jsonl"
    policy = ProfilePolicy()
    return [normalize_profile(json.loads(line), policy=policy) for line in path.open()]


PROFILES_UPDATED_AT = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def dev_matcher(shared_dir: Path) -> EntityMatcher:
    return EntityMatcher.build(matchable_from_input(p) for p in dev_profiles(shared_dir))


def test_dev_set_precision_and_recall(shared_dir: Path, dev_matcher: EntityMatcher) -> None:
    path = shared_dir / "samples" / "entities-dev" / "articles.jsonl"
    tp = fp = fn = 0
    for line in path.open():
        article = json.loads(line)
        got = {m.profile_id for m in dev_matcher.match(article["text"])}
        gold = set(article["gold"])
        tp, fp, fn = tp + len(got & gold), fp + len(got - gold), fn + len(gold - got)
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.95


def seed_article(shared_dir: Path) -> tuple[str, str]:
    lines = (shared_dir / "samples" / "seed-story.txt").read_text().splitlines()
    body = lines[1 : lines.index("About the People Mentioned")]
    return lines[0], "\n".join(body)


def test_seed_story_attaches_xi_and_apec(shared_dir: Path, dev_matcher: EntityMatcher) -> None:
    title, text = seed_article(shared_dir)
    matches = dev_matcher.match(text)
    found = [m.profile_id for m in matches]
    assert "Q15031" in found and "Q170481" in found
    assert found.index("Q15031") < found.index("Q170481")
    for match in matches:
        for mention in match.mentions:
            assert text[mention.start : mention.end] == mention.text
    snapshots = {p.id: p.snapshot(PROFILES_UPDATED_AT) for p in dev_profiles(shared_dir)}
    rendered = render_story(title=title, text=text, entities=attach_profiles(matches, snapshots))
    people = rendered.index("About the People Mentioned")
    orgs = rendered.index("About the Organizations Mentioned")
    assert people < rendered.index("\nXi Jinping\n") < orgs < rendered.index("Sources: [1] APEC")
    assert rendered.count("\nXi Jinping\n") == 1


def test_seed_summary_is_shortened_at_a_sentence_and_markers_resolve(shared_dir: Path) -> None:
    story = (shared_dir / "samples" / "seed-story.txt").read_text().splitlines()
    apec_summary = story[story.index("APEC") + 1]
    raw = {
        "id": "Q170481",
        "type": "organization",
        "name": "APEC",
        "summary": apec_summary,
        "sources": [{"title": f"Source {n}", "url": f"https://example.org/{n}"} for n in (1, 2, 3)],
    }
    profile = normalize_profile(raw, policy=ProfilePolicy(summary_max_chars=800))
    assert not profile.summary.endswith("Putra")
    assert profile.summary.endswith((".", "]"))
    assert len(profile.summary) <= 800
    assert "[5]" not in profile.summary and "[8]" not in profile.summary
    assert "[1][3]" in profile.summary


def test_attach_profiles_orders_by_first_mention_and_skips_unknown_ids(
    shared_dir: Path, dev_matcher: EntityMatcher
) -> None:
    snapshots = {
        p.id: p.snapshot(PROFILES_UPDATED_AT) for p in dev_profiles(shared_dir) if p.id != "Q170481"
    }
    text = "The APEC forum opened. Later, Chinese President Xi Jinping met Google LLC executives."
    attached = attach_profiles(dev_matcher.match(text), snapshots)
    assert [a.profile.id for a in attached] == ["Q15031", "Q95"]


def test_render_story_sections(shared_dir: Path) -> None:
    profiles = {p.id: p.snapshot(PROFILES_UPDATED_AT) for p in dev_profiles(shared_dir)}
    matcher = EntityMatcher.build(matchable_from_input(p) for p in dev_profiles(shared_dir))
    text = "Google LLC hired staff. Douglas Adams fans cheered. Adams was praised."
    rendered = render_story(
        title="T", text=text, entities=attach_profiles(matcher.match(text), profiles)
    )
    assert rendered.startswith("T\n" + text + "\nAbout the People Mentioned\nDouglas Adams\n")
    assert "About the Organizations Mentioned\nGoogle\n" in rendered
    assert "About Other Entities Mentioned" not in rendered
    assert rendered.count("Douglas Adams\n") == 1
    only_text = render_story(title="T", text="Nothing here.", entities=())
    assert only_text == "T\nNothing here.\n"


def test_assemble_story_renders_the_article_with_its_entities(shared_dir: Path) -> None:
    """The one story assembly the pipeline and `newsworker enrich` share."""
    profiles = {p.id: p.snapshot(PROFILES_UPDATED_AT) for p in dev_profiles(shared_dir)}
    matcher = EntityMatcher.build(matchable_from_input(p) for p in dev_profiles(shared_dir))
    text = "Google LLC hired staff. Douglas Adams fans cheered [1]."
    when = datetime(2025, 1, 2, tzinfo=UTC)
    article = Article(
        entry_key="e1", title="T", url="https://news.example/a", canonical_url=None,
        summary="", text=text, content_html="", language="en", published_at=when,
        updated_at=None, discovered_at=when, content_hash="h",
        sources=(Citation(number=1, title="Fans", url="https://fans.example/"),),
    )  # fmt: skip
    entities = attach_profiles(matcher.match(text), profiles)
    assert entities
    story = assemble_story(
        story_id="s1", revision=2, event="updated", article=article,
        feed=FeedRef(id=3, url="https://news.example/rss"), entities=entities,
        occurred_at=when, also_reported_by=[{"feed_url": "f", "url": "u", "title": "t"}],
    )  # fmt: skip
    assert story["rendered"] == render_story(
        title="T", text=text, entities=entities, sources=article.sources
    )
    assert [e["id"] for e in story["entities"]] == [e.profile.id for e in entities]
    assert story["idempotency_key"] == "s1:2" and story["article"]["feed"]["id"] == 3
    assert story["also_reported_by"] == [{"feed_url": "f", "url": "u", "title": "t"}]
