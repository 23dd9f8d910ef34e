"""Entity enrichment: find profile mentions in article text, resolve them, attach snapshots."""

from newsworker.stages.enrich.aliases import MatchableProfile
from newsworker.stages.enrich.matcher import EntityMatcher
from newsworker.stages.enrich.matcher_cache import load_or_build_matcher
from newsworker.stages.enrich.policy import EnrichPolicy
from newsworker.stages.enrich.profiles import (
    ProfileInput,
    ProfilePolicy,
    matchable_from_input,
    normalize_profile,
    read_profile_lines,
)
from newsworker.stages.enrich.render import attach_profiles, render_story

__all__ = [
    "EnrichPolicy",
    "EntityMatcher",
    "MatchableProfile",
    "ProfileInput",
    "ProfilePolicy",
    "attach_profiles",
    "load_or_build_matcher",
    "matchable_from_input",
    "normalize_profile",
    "read_profile_lines",
    "render_story",
]
