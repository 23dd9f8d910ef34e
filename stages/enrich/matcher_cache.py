"""The matcher build cache: reuse a build saved for the profile set's version, else build one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from newsworker.stages.enrich.aliases import MatchableProfile
from newsworker.stages.enrich.matcher import EntityMatcher
from newsworker.stages.enrich.policy import EnrichPolicy


def load_or_build_matcher(
    *,
    version: str | None,
    profiles: Callable[[], Iterable[MatchableProfile]],
    cache_dir: Path | None = None,
    policy: EnrichPolicy | None = None,
) -> EntityMatcher:
    """The matcher for the profile set at version; profiles() is read only when building.

    With a cache_dir, a build saved for the same version is loaded instead of rebuilt, and a new
    build is saved there. Call it in the worker parent before forking; per task, compare the
    store's profile version with this one and call again only when it changed.
    """
    cache_file = None
    if cache_dir is not None and version is not None:
        cache_file = Path(cache_dir) / f"matcher-{version}.bin"
        if cache_file.exists():
            try:
                return EntityMatcher.load(cache_file, policy=policy)
            except (ValueError, OSError, EOFError):
                cache_file.unlink(missing_ok=True)  # a torn or foreign file: rebuild it
    matcher = EntityMatcher.build(profiles(), policy=policy)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        matcher.save(cache_file)
        for stale in cache_file.parent.glob("matcher-*.bin"):
            if stale != cache_file:
                stale.unlink(missing_ok=True)
    return matcher
