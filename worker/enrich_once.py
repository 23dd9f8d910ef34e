"""`newsworker enrich`: one article in, one enriched story out; writes nothing."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from newsworker.config.settings import Settings
from newsworker.stages.enrich import EntityMatcher, MatchableProfile, attach_profiles
from newsworker.stages.enrich.profiles import matchable_from_input, normalize_profile
from newsworker.stages.normalize import normalize_entry
from newsworker.stages.publish.story import assemble_story, story_id_for
from newsworker.stages.records import Article, FeedRef, ProfileSnapshot, RawEntry
from newsworker.storage.db import create_db_engine, session_for
from newsworker.storage.models import utcnow
from newsworker.storage.profiles import load_matchable_profiles, load_snapshots
from newsworker.tasks.runtime import enrich_policy, normalize_policy, profile_policy

SAMPLES = Path(__file__).resolve().parent / "samples"
STDIN_FEED = "urn:newsworker:enrich"


def text_to_html(text: str) -> str:
    """Plain text to HTML paragraphs, one per non-empty line, escaped."""
    return "".join(
        f"<p>{html.escape(line.strip())}</p>" for line in text.splitlines() if line.strip()
    )


def _bundled_profiles(
    settings: Settings,
) -> tuple[list[MatchableProfile], dict[str, ProfileSnapshot]]:
    policy = profile_policy(settings)
    now = utcnow()
    matchable: list[MatchableProfile] = []
    snapshots: dict[str, ProfileSnapshot] = {}
    for line in (SAMPLES / "profiles.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        p = normalize_profile(json.loads(line), policy=policy)
        matchable.append(matchable_from_input(p))
        snapshots[p.id] = p.snapshot(now)
    return matchable, snapshots


def _store_has_profiles(settings: Settings) -> bool:
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:" or not Path(path).exists():
            return False  # never create a database just to read it
    engine = create_db_engine(url, pool=False)
    try:
        if not inspect(engine).has_table("entity_profiles"):
            return False
        with engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT 1 FROM entity_profiles LIMIT 1").first())
    except Exception:
        return False
    finally:
        engine.dispose()


def load_profiles(
    settings: Settings,
) -> tuple[EntityMatcher, Mapping[str, ProfileSnapshot] | None, str]:
    """The matcher from the store when it has profiles, else from the bundled samples."""
    if _store_has_profiles(settings):
        with session_for(settings.database_url) as session:
            return EntityMatcher.build(load_matchable_profiles(session=session)), None, "store"
    matchable, snapshots = _bundled_profiles(settings)
    return EntityMatcher.build(matchable), snapshots, "bundled samples"


class Enricher:
    """Enriches articles given as JSON against one matcher, built once for all of them."""

    def __init__(self, settings: Settings, *, explain: bool = False) -> None:
        self.settings = settings
        self.explain = explain
        self.matcher, bundled, self.origin = load_profiles(settings)
        self.from_store = bundled is None
        self.snapshots: dict[str, ProfileSnapshot] = dict(bundled or {})
        self.normalize_policy = normalize_policy(settings)
        self.enrich_policy = enrich_policy(settings)

    def enrich(self, data: Any) -> dict[str, Any]:
        """One story for one article (title, text or html, optional url); ValueError if bad."""
        article = self._article(data)
        if self.explain:
            matches, explanation = self.matcher.explain(article.text, policy=self.enrich_policy)
        else:
            matches = self.matcher.match(article.text, policy=self.enrich_policy)
        if self.from_store:
            self._load_snapshots({m.profile_id for m in matches} - self.snapshots.keys())
        now = utcnow()
        story = assemble_story(
            story_id=story_id_for(
                canonical_url=article.canonical_url,
                feed_url=STDIN_FEED,
                entry_key=article.entry_key,
            ),
            revision=1,
            event="created",
            article=article,
            feed=FeedRef(id=0, url=STDIN_FEED, title="newsworker enrich"),
            entities=attach_profiles(matches, self.snapshots),
            occurred_at=now,
        )
        if self.explain:
            story["explanation"] = explanation.as_json()
        return story

    def _article(self, data: Any) -> Article:
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object with title and text or html")
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("field 'title' is required and must be a non-empty string")
        body = data.get("html")
        if body is None and isinstance(data.get("text"), str):
            body = text_to_html(data["text"])
        if not isinstance(body, str):
            raise ValueError("one of 'text' or 'html' is required and must be a string")
        url = data.get("url") if isinstance(data.get("url"), str) else None
        entry = RawEntry(guid=None, link=url, title=title, summary_html=None, content_html=body)
        return normalize_entry(
            entry,
            feed_url=url or STDIN_FEED,
            feed_language=None,
            discovered_at=utcnow(),
            policy=self.normalize_policy,
        )

    def _load_snapshots(self, ids: set[str]) -> None:
        if ids:
            with session_for(self.settings.database_url) as session:
                self.snapshots.update(load_snapshots(session=session, ids=ids))


def enrich_article_json(data: Any, *, settings: Settings) -> dict[str, Any]:
    """Enrich one article given as JSON (title, text or html, optional url)."""
    return Enricher(settings).enrich(data)


def enrich_lines(lines: Iterable[str], enricher: Enricher) -> Iterator[dict[str, Any]]:
    """One story per JSON Lines article, in order, with its "id"; an error record for a bad one.

    A bad line becomes {"error": ..., "line": N} (N counts from 1) and the rest go on.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            story = enricher.enrich(data)
        except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
            reason = f"not JSON: {e}" if isinstance(e, json.JSONDecodeError) else str(e)
            yield {"error": reason or type(e).__name__, "line": number}
            continue
        if "id" in data:
            story = {"id": data["id"], **story}
        yield story
