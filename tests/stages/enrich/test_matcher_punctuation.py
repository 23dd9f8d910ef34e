"""Aliases with punctuation match as written, and mention spans are exact text offsets."""

from __future__ import annotations

import pytest

from newsworker.stages.enrich import EntityMatcher, MatchableProfile
from newsworker.stages.records import EntityMatch


def org(pid: str, name: str, *aliases: str) -> MatchableProfile:
    return MatchableProfile(pid, "organization", name, aliases, None)


def place(pid: str, name: str, *aliases: str) -> MatchableProfile:
    return MatchableProfile(pid, "place", name, aliases, None)


STORE = [
    place("C1", "St. Louis"),
    org("C2", "Dunkin' Donuts"),
    org("C3", "Goldman, Sachs & Co.", "Goldman, Sachs"),
    org("C4", "J.P. Morgan"),
    org("C5", "U.S. Steel"),
    place("C6", "United States", "U.S."),
    org("C7", "Brennick Foods Inc."),
    org("C8", "Yarrow Ltd."),
]


@pytest.fixture(scope="module")
def matcher() -> EntityMatcher:
    return EntityMatcher.build(STORE)


def found(matcher: EntityMatcher, text: str) -> dict[str, list[str]]:
    """Profile id to the mention texts, each checked against its offsets."""
    matches: list[EntityMatch] = matcher.match(text)
    for match in matches:
        for mention in match.mentions:
            assert text[mention.start : mention.end] == mention.text
    return {m.profile_id: [x.text for x in m.mentions] for m in matches}


@pytest.mark.parametrize(
    ("text", "pid", "mention"),
    [
        ("The team flew to St. Louis on Friday for the final.", "C1", "St. Louis"),
        ("Sales at Dunkin' Donuts rose in the spring quarter.", "C2", "Dunkin' Donuts"),
        ("Bankers at Goldman, Sachs advised on the merger.", "C3", "Goldman, Sachs"),
        ("Analysts at J.P. Morgan cut their forecast.", "C4", "J.P. Morgan"),
        ("Shares of U.S. Steel fell after the ruling.", "C5", "U.S. Steel"),
    ],
)
def test_aliases_with_punctuation_and_a_space_match_as_written(
    matcher: EntityMatcher, text: str, pid: str, mention: str
) -> None:
    assert found(matcher, text).get(pid) == [mention]


def test_the_same_aliases_still_match_without_their_punctuation(matcher: EntityMatcher) -> None:
    assert found(matcher, "Fans in St Louis cheered.") == {"C1": ["St Louis"]}
    assert found(matcher, "Bankers at Goldman Sachs advised.") == {"C3": ["Goldman Sachs"]}


def test_punctuation_still_separates_words_the_alias_does_not_join(
    matcher: EntityMatcher,
) -> None:
    # A sentence end between two words is no "Goldman, Sachs".
    assert "C3" not in found(matcher, "He met Goldman. Sachs later denied it.")


@pytest.mark.parametrize(
    ("text", "pid", "mention"),
    [
        ("Officials in the U.S. said talks would go on.", "C6", "U.S."),
        ("Talks will go on, officials in the U.S. said.", "C6", "U.S."),
        ("Exports to the U.S. rose.", "C6", "U.S."),
        ("Shares of Brennick Foods Inc. rose on Monday.", "C7", "Brennick Foods Inc."),
        ("The deal went to Yarrow Ltd.", "C8", "Yarrow Ltd."),
    ],
)
def test_a_mention_keeps_the_final_period_of_its_alias(
    matcher: EntityMatcher, text: str, pid: str, mention: str
) -> None:
    assert found(matcher, text).get(pid) == [mention]


def test_a_period_the_alias_does_not_have_stays_out_of_the_span(matcher: EntityMatcher) -> None:
    assert found(matcher, "Shares of Brennick Foods Inc rose. We met in St. Louis.") == {
        "C7": ["Brennick Foods Inc"],
        "C1": ["St. Louis"],
    }
    assert found(matcher, "Exports to the United States.") == {"C6": ["United States"]}
