"""Matching and resolution rules, each on invented names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsworker.stages.enrich import EnrichPolicy, EntityMatcher, MatchableProfile
from newsworker.stages.enrich.match_records import _FAST_RECORDS
from newsworker.stages.records import EntityMatch, Mention


def person(
    pid: str, name: str, *aliases: str, prior: float | None = None, cues: str = ""
) -> MatchableProfile:
    return MatchableProfile(pid, "person", name, aliases, prior, tuple(cues.split()))


def org(pid: str, name: str, *aliases: str, prior: float | None = None) -> MatchableProfile:
    return MatchableProfile(pid, "organization", name, aliases, prior)


STORE = [
    person("P1", "Marta Oyelaran"),
    person("P2", "Sergei Dubnov"),
    person("P3", "Tomasz Ĺuberić"),
    person("P4", "Han Seo-jun", "Han Seo Jun"),
    person("P5", "Wen Haolin"),
    person("P6", "Park Min-ho", cues="south korean president"),
    person("P7", "Park Li Wei", cues="singapore minister"),
    person("P8", "Ayşe Erdoğanlı"),
    person("P9", "Niamh O'Rourke"),
    org("O1", "Pacific Trade Forum", "PTF"),
    org("O2", "Harbor", "Harbor Inc"),
    org("O3", "Global Health Body", "WHO"),
    org("O4", "Group of Nine", "G9"),
]


@pytest.fixture(scope="module")
def matcher() -> EntityMatcher:
    return EntityMatcher.build(STORE)


def ids(matcher: EntityMatcher, text: str, **policy: Any) -> list[str]:
    found = matcher.match(text, policy=EnrichPolicy(**policy)) if policy else matcher.match(text)
    return [m.profile_id for m in found]


def test_word_boundaries(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Exports from Wenhaolinburg rose. PTFS were sold.") == []
    assert ids(matcher, "Officials met Wen Haolin today.") == ["P5"]


def test_acronyms_match_only_in_upper_case(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Officials who follow the case said ptf rules apply.") == []
    assert ids(matcher, "The WHO and the PTF met; G9 ministers agreed.") == ["O3", "O1", "O4"]


def test_other_aliases_match_only_as_proper_nouns(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Boats sat in the harbor all week, a harbor of calm.") == []
    assert ids(matcher, "Shares of Harbor rose after the deal.") == ["O2"]


def test_sentence_initial_common_word_needs_evidence(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Rain fell. Harbor waters were calm.") == []
    assert ids(matcher, "Rain fell. Harbor said sales rose.") == ["O2"]
    assert ids(matcher, "Harbor Inc opened. Harbor waters were calm.") == ["O2"]


def test_all_caps_headline_still_matches(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Leaders gather. SERGEI DUBNOV TO ATTEND, media said.") == ["P2"]


def test_diacritics_are_folded_both_ways(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Ayse Erdoganli spoke.") == ["P8"]
    assert ids(matcher, "Tomasz Luberic and Ayşe Erdoğanlı met.") == ["P3", "P8"]


def test_apostrophes_and_possessives(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Niamh O’Rourke’s plan and Marta Oyelaran's reply.") == ["P9", "P1"]


def test_hyphen_and_space_variants(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Han Seo Jun visited.") == ["P4"]
    assert ids(matcher, "Han Seo-jun visited.") == ["P4"]


def test_longest_match_wins(matcher: EntityMatcher) -> None:
    found = matcher.match("Analysts said Harbor Inc gained.")
    assert [m.profile_id for m in found] == ["O2"]
    assert found[0].mentions[0].text == "Harbor Inc"


def test_start_or_tail_of_a_longer_name_is_not_attached(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Students of Sergei Dubnov University protested.") == []
    assert ids(matcher, "Crowds met at the Oyelaran Monument.") == []
    assert ids(matcher, "He visited Anna Dubnov yesterday.") == []


def test_offsets_index_the_original_text_after_length_changing_folding(
    matcher: EntityMatcher,
) -> None:
    text = "İİİ İstanbul: Sergei Dubnov and Tomasz Lu\u0301beric\u0301 met."
    found = matcher.match(text)
    assert [m.profile_id for m in found] == ["P2", "P3"]
    for match in found:
        for mention in match.mentions:
            assert text[mention.start : mention.end] == mention.text
    assert found[0].mentions[0].text == "Sergei Dubnov"


def test_short_form_after_full_mention(matcher: EntityMatcher) -> None:
    found = matcher.match("Wen Haolin arrived. Wen said talks went well, Wen added.")
    assert [m.profile_id for m in found] == ["P5"]
    assert [m.text for m in found[0].mentions] == ["Wen Haolin", "Wen", "Wen"]


def test_short_form_before_the_full_mention_also_resolves(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Dubnov said on Monday he would go. Sergei Dubnov spoke in Kyiv.") == ["P2"]


def test_titles_introduce_a_name(matcher: EntityMatcher) -> None:
    found = matcher.match("Prime Minister Oyelaran spoke, and Mr Dubnov replied.")
    assert [m.profile_id for m in found] == ["P1", "P2"]


def test_distinctive_surname_alone_attaches_with_lower_confidence(matcher: EntityMatcher) -> None:
    found = matcher.match("Talks resumed when Oyelaran arrived.")
    assert [m.profile_id for m in found] == ["P1"]
    assert found[0].confidence < 0.9


def test_ambiguous_surname_without_evidence_attaches_nothing(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Talks resumed when Park arrived.") == []


def test_ambiguous_surname_resolved_by_earlier_full_mention(matcher: EntityMatcher) -> None:
    text = "Park Li Wei visited Seoul. Later, Park met officials."
    found = matcher.match(text)
    assert [m.profile_id for m in found] == ["P7"]
    assert len(found[0].mentions) == 2


def test_ambiguous_surname_resolved_by_cue_words(matcher: EntityMatcher) -> None:
    assert ids(matcher, "The South Korean president, Park, addressed the nation.") == ["P6"]


def test_ambiguous_surname_resolved_by_prior() -> None:
    store = [person("A", "Lena Varga", prior=0.9), person("B", "Imre Varga", prior=0.05)]
    matcher = EntityMatcher.build(store)
    assert ids(matcher, "Yesterday, Varga spoke.") == ["A"]
    assert ids(matcher, "Yesterday, Varga spoke.", min_confidence=0.99) == []


def test_all_caps_word_is_not_a_short_form(matcher: EntityMatcher) -> None:
    store = [person("K", "Kim Jong Un")]
    assert ids(EntityMatcher.build(store), "The UN said on Friday it would meet.") == []


def test_matches_carry_confidence_and_mentions(matcher: EntityMatcher) -> None:
    (found,) = matcher.match("Marta Oyelaran spoke.")
    assert 0.5 <= found.confidence <= 1.0
    assert found.mentions[0].start == 0 and found.mentions[0].end == len("Marta Oyelaran")


def test_ablation_switches(matcher: EntityMatcher) -> None:
    text = "Wen Haolin arrived. Wen said so."
    exact = matcher.match(text, policy=EnrichPolicy(coreference=False, cues_and_priors=False))
    assert [len(m.mentions) for m in exact] == [1]
    assert [len(m.mentions) for m in matcher.match(text)] == [2]


def test_save_and_load_round_trip(matcher: EntityMatcher, tmp_path: Path) -> None:
    path = tmp_path / "matcher.bin"
    matcher.save(path)
    loaded = EntityMatcher.load(path)
    assert loaded.profile_count == matcher.profile_count
    assert loaded.alias_count == matcher.alias_count
    text = "Wen Haolin met the PTF. Wen left."
    assert loaded.match(text) == matcher.match(text)


def test_empty_store_matches_nothing() -> None:
    assert EntityMatcher.build([]).match("Wen Haolin spoke.") == []


def test_alias_with_lower_case_first_word() -> None:
    store = [person("G", "Charles de Gaulle", "de Gaulle"), org("E", "eBay")]
    matcher = EntityMatcher.build(store)
    assert ids(matcher, "Officials praised de Gaulle. Shares of eBay rose.") == ["G", "E"]


def test_calendar_words_and_compound_titles_do_not_extend_a_name(matcher: EntityMatcher) -> None:
    assert ids(matcher, "Officials met Sergei Dubnov Monday in Kyiv.") == ["P2"]
    assert ids(matcher, "Secretary of State Marta Oyelaran spoke.") == ["P1"]


def test_surname_of_an_unknown_namesake_is_not_attached(matcher: EntityMatcher) -> None:
    text = "Voters backed Lidia Oyelaran in Lagos. Later, Oyelaran thanked them."
    assert ids(matcher, text) == []
    assert ids(matcher, "Later, Oyelaran thanked them.") == ["P1"]


def test_fast_built_records_equal_constructed_ones(matcher: EntityMatcher) -> None:
    assert _FAST_RECORDS is not None  # the records are still plain frozen slots dataclasses
    text = "Marta Oyelaran met Sergei Dubnov. Oyelaran said so."
    found = matcher.match(text)
    expected = [
        EntityMatch("P1", 0.95, (Mention("Marta Oyelaran", 0, 14), Mention("Oyelaran", 34, 42))),
        EntityMatch("P2", 0.95, (Mention("Sergei Dubnov", 19, 32),)),
    ]
    assert found == expected
    assert [hash(m) for m in found] == [hash(m) for m in expected]


def test_aliases_that_fold_alike_keep_one_entry() -> None:
    built = EntityMatcher.build([person("P1", "Kari Moto", "Kari-Moto", "KARI MOTO", "kari moto")])
    # Hyphenated and all-caps spellings fold alike with the same case rule: one entry. The
    # lower-case spelling has another case rule, so it keeps its own entry.
    assert built.pattern_count == 3  # "kari moto" and the short forms "kari", "moto"
    assert built.alias_count == 4
    assert [m.profile_id for m in built.match("Kari-Moto spoke.")] == ["P1"]


def test_long_names_and_shared_aliases_survive_the_bulk_build() -> None:
    # Folded aliases longer than the fixed-width sort keys are sorted apart; an alias shared by
    # two profiles keeps both entries, the later profile first; a stray NUL folds to a space.
    long_name = "Organisation for the Prohibition of Exceedingly Long Invented Weapon Names"
    store = [
        org("L", long_name),
        person("A", "Kari Moto"),
        person("B", "Lena Moto"),
        org("N", "Harbor\0Works"),
    ]
    matcher = EntityMatcher.build(store)
    assert ids(matcher, f"The {long_name} met.") == ["L"]
    assert ids(matcher, "Kari Moto spoke. Lena Moto replied. Moto left.") == ["A", "B"]
    assert ids(matcher, "Harbor Works grew.") == ["N"]
    text = "Moto said."
    moto = [
        [entry.profile for entry in matcher.entries_fitting(pattern, text[start:end])]
        for _, _, pattern, start, end in matcher.raw_spans(text)
    ]
    assert moto == [[2, 1]]
