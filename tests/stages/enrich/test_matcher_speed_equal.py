"""The matcher's fast paths give the answers of its plain ones, and of the matcher before them.

The recorded digest below is of every match (profile id, confidence, mention text and offsets)
on invented articles, computed by the matcher as it was before its throughput work (commit
227a519). A deliberate change to the matching rules changes it: recompute it then with
`.venv/bin/python -m tests.stages.enrich.test_matcher_speed_equal` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bench.bench_matcher_scale import SYLLABLES, WORDS
from newsworker.stages.enrich import EntityMatcher, MatchableProfile
from newsworker.stages.enrich.folding import _ASCII_TABLE, _fold_char, fold_ascii, fold_text
from newsworker.stages.enrich.resolution import _Resolver

RECORDED_DIGEST = "065ce854a9fdc86ead2b7a4db242617bdd1030f9f20d2f626257577d8a286e66"


SUFFIXES = ("Group", "Holdings", "Bank", "Party")
# Odd characters: beyond Latin-1, beyond ASCII folding, combining marks, titlecase letters,
# fractions that \\w reads as a letter but folding blanks, curly punctuation.
ODD = (
    "Привет", "東京", "İstanbul", "straße", "ÉCOLE", "e\u0301", "½", "ⓐbc", "Ǆemal", "ǅ", "Ğan",
    "ŁÓDŹ", "’s", "—", "–", "“", "”", "…", "\u00a0", "\t", "\n", "O’Brien", "McDONALD", "iPhone",
    "de", "van", "DE", "٣", "²", "ß", "µ",
)  # fmt: skip


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def invented_store(make: Callable[..., Any], count: int = 6000, seed: int = 3) -> list[Any]:
    """Persons and organisations with lower-case, acronym, non-Latin and particle aliases."""
    rng = random.Random(seed)
    store = []
    for index in range(count):
        if rng.random() < 0.65:
            given, family = _name(rng), _name(rng)
            name = f"{given} {family}"
            aliases = [f"{given[0]}. {family}", f"{family} {given}"]
            kind, prior = "person", rng.random()
        else:
            head = _name(rng)
            name = f"{head} {_name(rng)} {rng.choice(SUFFIXES)}"
            aliases = ["".join(w[0] for w in name.split()).upper() + str(index % 97)]
            kind, prior = "organization", None
        roll = rng.random()
        if roll < 0.1:
            aliases.append("de " + name.split()[-1])
        elif roll < 0.15:
            aliases.append("e" + name.replace(" ", ""))
        elif roll < 0.2:
            aliases.append(name.upper().split()[0][:4])
        elif roll < 0.23:
            aliases.append(
                rng.choice(("Привет Мир", "東京", "Straße Bau", "Łódź")) + str(index % 5)
            )
        elif roll < 0.26:
            aliases.append(f"{name.split()[0]} of the {name.split()[-1]}")
        cues = ("south", "korean") if index % 7 == 0 else ()
        store.append(make(f"Q{index}", kind, name, tuple(aliases), prior, cues))
    return store


def invented_articles(
    store: Sequence[Any], count: int = 300, seed: int = 11, *, plain: bool = False
) -> list[str]:
    """Articles that name profiles by name and alias, half of them with odd characters mixed in.

    Plain articles name profiles by their names only, with nothing mixed in.
    """
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        sentences = [f"Report {number}."]
        while sum(map(len, sentences)) < 3000:
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
            if rng.random() < 0.3:
                profile = rng.choice(store)
                mention = profile.name if plain else rng.choice((profile.name, *profile.aliases))
                words.insert(rng.randint(0, 3), mention)
            if rng.random() < 0.1 and not plain:
                words.insert(rng.randint(0, len(words)), rng.choice(store).name.split()[-1])
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        text = " ".join(sentences)
        if number % 2 and not plain:
            text = _mixed(rng, text)
        articles.append(text)
    return articles


def _mixed(rng: random.Random, text: str) -> str:
    words = []
    for original in text.split(" "):
        word = original
        roll = rng.random()
        if roll < 0.05:
            word = word.upper()
        elif roll < 0.1:
            word = word.lower()
        elif roll < 0.13:
            word = word.capitalize()
        elif roll < 0.16:
            word = rng.choice(ODD) + word
        elif roll < 0.18:
            word += rng.choice(ODD)
        words.append(word)
    return " ".join(words)


def digest(matcher: Any, articles: Sequence[str]) -> str:
    """sha256 over every match of every article."""
    hasher = hashlib.sha256()
    for text in articles:
        for match in matcher.match(text):
            mentions = [(m.text, m.start, m.end) for m in match.mentions]
            hasher.update(repr((match.profile_id, match.confidence, mentions)).encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


@pytest.fixture(scope="module")
def store() -> list[MatchableProfile]:
    return invented_store(MatchableProfile)


@pytest.fixture(scope="module")
def matcher(store: list[MatchableProfile]) -> EntityMatcher:
    return EntityMatcher.build(store)


@pytest.fixture(scope="module")
def articles(store: list[MatchableProfile]) -> list[str]:
    return invented_articles(store)


def test_matches_equal_those_recorded_before_the_speed_work(
    matcher: EntityMatcher, articles: list[str]
) -> None:
    assert digest(matcher, articles) == RECORDED_DIGEST


@pytest.fixture(scope="module")
def plain_articles(store: list[MatchableProfile]) -> list[str]:
    return invented_articles(store, 100, plain=True)


def test_full_name_shortcut_equals_the_general_resolution(
    matcher: EntityMatcher, articles: list[str], plain_articles: list[str]
) -> None:
    shortcut = 0
    for text in articles + plain_articles:
        raw = matcher.raw_spans(text)
        fast, plain = (
            _Resolver(text, matcher, matcher.policy),
            _Resolver(text, matcher, matcher.policy),
        )
        if fast.select(raw) or not raw:
            continue
        plain.select(raw)
        plain.attach_full_names()
        assert fast.full_name_results() == plain.results()
        shortcut += 1
    assert shortcut > 50


def test_offsets_stay_right_after_text_that_folds_beyond_ascii(
    matcher: EntityMatcher, plain_articles: list[str]
) -> None:
    for text in plain_articles[:20]:
        assert fold_ascii(text) is not None
        # CJK letters fold to themselves: six UTF-8 bytes for the first two characters.
        shifted = matcher.raw_spans("東京 " + text)
        expected = [
            (length, folded + 3, pattern, start + 3, end + 3)
            for length, folded, pattern, start, end in matcher.raw_spans(text)
        ]
        assert [span for span in shifted if span[1] >= 3] == expected


def test_fold_equals_the_fold_of_each_character() -> None:
    rng = random.Random(1)
    alphabet = [*"abcXYZ 09-.,'\"\n\t", *"éÉñÖøßæµ½ªº²×", *"’‘“”–—…•€ğĞşŞıİłŁőčžšřąę"]
    alphabet += ["\u0301", "\u200b", "東", "П", "ǅ", "ⓐ", "🙂", "\u00a0", "ﬁ"]
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        each = [_fold_char(char) for char in text]
        if any(len(folded) != 1 for folded in each):
            continue  # marks and ligatures: the digest test covers them
        folded = "".join(each)
        if folded.isascii():
            expected = folded.encode("ascii").translate(_ASCII_TABLE)
            assert fold_ascii(text) == expected, text
            assert fold_text(text) == (expected.decode("ascii"), None)
        else:
            assert fold_ascii(text) is None, text


if __name__ == "__main__":
    profiles = invented_store(MatchableProfile)
    print(digest(EntityMatcher.build(profiles), invented_articles(profiles)))
