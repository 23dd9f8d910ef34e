"""Near-duplicate signatures: syndicated and lightly edited copies join, unrelated never."""

from __future__ import annotations

import argparse
import random
import subprocess
import typing
import unittest
from pathlib import Path

import pytest

from newsworker.stages.normalize.near_duplicates import (
    NEAR_DUPLICATE_THRESHOLD,
    NearDuplicateIndex,
    similarity,
    text_signature,
)


@pytest.fixture
def story(shared_dir: Path) -> str:
    text = (shared_dir / "samples" / "seed-story.txt").read_text(encoding="utf-8")
    assert len(text.split()) > 500
    return text


def edited(text: str, share: float, seed: int) -> str:
    """Replace share of the words at random positions with other words."""
    rng = random.Random(seed)
    words = text.split()
    for index in rng.sample(range(len(words)), int(len(words) * share)):
        words[index] = rng.choice(["new", "reported", "officials", "Monday", "said", "more"])
    return " ".join(words)


def unrelated_texts(story: str) -> list[str]:
    words = story.split()
    half = len(words) // 2
    docs = [argparse.__doc__, subprocess.__doc__, typing.__doc__, unittest.__doc__]
    return [" ".join(words[:half]), " ".join(words[half:]), *(d or "" for d in docs)]


def test_identical_text_is_similarity_one(story: str) -> None:
    assert similarity(text_signature(story), text_signature(story)) == 1.0


def test_signature_is_compact_deterministic_hex(story: str) -> None:
    signature = text_signature(story)
    assert signature == text_signature(story)
    assert len(signature) == 1024
    int(signature, 16)


def test_header_footer_variant_joins(story: str) -> None:
    variant = (
        "Advertisement. Subscribe to our newsletter for the latest world news.\n\n"
        + story
        + "\n\nReporting by our correspondents; editing by the desk. All rights reserved. "
        "Follow us on social media for more updates and analysis."
    )
    score = similarity(text_signature(story), text_signature(variant))
    assert score > 0.85
    assert score >= NEAR_DUPLICATE_THRESHOLD


@pytest.mark.parametrize("seed", range(5))
def test_five_percent_edited_copy_joins(story: str, seed: int) -> None:
    score = similarity(text_signature(story), text_signature(edited(story, 0.05, seed)))
    assert score >= NEAR_DUPLICATE_THRESHOLD + 0.1, score


def test_case_and_punctuation_changes_join(story: str) -> None:
    assert similarity(text_signature(story), text_signature(story.upper().replace(",", ""))) > 0.95


def test_unrelated_texts_never_join(story: str) -> None:
    texts = unrelated_texts(story)
    signatures = [text_signature(t) for t in texts]
    for i, a in enumerate(signatures):
        for b in signatures[i + 1 :]:
            assert similarity(a, b) < NEAR_DUPLICATE_THRESHOLD - 0.3


def test_empty_text_matches_nothing() -> None:
    assert similarity(text_signature(""), text_signature("")) == 0.0


def test_index_finds_copies_and_not_strangers(story: str) -> None:
    index = NearDuplicateIndex()
    for number, text in enumerate(unrelated_texts(story)):
        index.add(f"other-{number}", text_signature(text))
    index.add("original", text_signature(story))
    assert index.query(text_signature(edited(story, 0.05, 7))) == ["original"]
    assert index.query(text_signature("A completely different short note about weather.")) == []
    index.remove("original")
    assert "original" not in index.query(text_signature(story))
    assert len(index) == 6
