"""Declared language tags to BCP 47, and detection with the model shipped in py3langid."""

from __future__ import annotations

import math
import re
import threading
from typing import Any

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

# Detection reads this many characters: enough for a confident answer, cheap per entry.
DETECT_CHARS = 300
MIN_DETECT_CHARS = 40
MIN_CONFIDENCE = 0.6

_TAG = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
_LANGUAGE_NAMES = {
    "english": "en",
    "french": "fr",
    "francais": "fr",
    "français": "fr",
    "german": "de",
    "deutsch": "de",
    "spanish": "es",
    "español": "es",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "russian": "ru",
    "chinese": "zh",
    "japanese": "ja",
}
_NOT_A_LANGUAGE = frozenset({"und", "mul", "zxx", "mis", "xx", "unknown", "none", "null"})

_identifier: _Classifier | None = None
_identifier_lock = threading.Lock()


def bcp47_tag(declared: str | None) -> str | None:
    """Return declared as a BCP 47 tag (en, en-US, zh-Hant-TW), or None when it is not one."""
    if not declared:
        return None
    value = declared.strip().split(",")[0].strip()
    named = _LANGUAGE_NAMES.get(value.lower())
    if named:
        return named
    if not _TAG.match(value):
        return None
    subtags = value.replace("_", "-").split("-")
    primary = subtags[0].lower()
    if len(primary) > 3 or primary in _NOT_A_LANGUAGE:
        return None
    parts = [primary]
    for subtag in subtags[1:]:
        if len(subtag) == 4 and subtag.isalpha():
            parts.append(subtag.title())
        elif (len(subtag) == 2 and subtag.isalpha()) or (len(subtag) == 3 and subtag.isdigit()):
            parts.append(subtag.upper())
        elif len(subtag) == 1:
            break  # extensions and private use add nothing downstream needs
        else:
            parts.append(subtag.lower())
    return "-".join(parts)


class _Classifier:
    """py3langid's classify with the scoring rows converted to float32 once, as they are used.

    The model keeps its 100,000 x 142 weights as float16; converting the rows each text touches
    cost more than the rest of classify. Converted rows are kept (a few MB for a few languages'
    features; the full table would be 57 MB), so the answers stay exactly py3langid's.
    """

    def __init__(self, identifier: Any) -> None:
        self._identifier = identifier
        self._visit_counts = visit_counts
        table = identifier.nb_ptc
        # np.empty maps zero pages lazily: only rows written take memory.
        self._rows = np.empty(table.shape, dtype=np.float32)
        self._converted = np.zeros(table.shape[0], dtype=bool)
        self._alias_pairs = tuple(identifier._alias_pairs)
        self._classes = identifier.nb_classes

    def classify(self, text: str) -> tuple[str, float]:
        """The most likely language of text and its probability."""
        identifier = self._identifier
        data = identifier._encode(text)
        visits = self._visit_counts(
            identifier.tk_nextmove, identifier._rowbase, identifier.tk_output, data
        )
        if not visits:
            return "und", 0.0
        features = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        missing = features[~self._converted[features]]
        if len(missing):
            self._rows[missing] = identifier.nb_ptc[missing]
            self._converted[missing] = True
        scores = np.log1p(counts) @ self._rows[features] + identifier.nb_pc
        # As py3langid's norm_probs: temperature sqrt(bytes), softmax, aliased labels folded.
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self._alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return str(self._classes[best]), float(scores[best])


def _get_identifier() -> _Classifier:
    global _identifier  # noqa: PLW0603  (one model per process, loaded on first use)
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                _identifier = _Classifier(model)
    return _identifier


def load_language_model() -> None:
    """Load the language model now (a worker parent does, so its forked children share it)."""
    _get_identifier()


def detect_language(text: str) -> str | None:
    """Detect the language of text, or None when it is too short or the model is unsure."""
    sample = text[:DETECT_CHARS].strip()
    if len(sample) < MIN_DETECT_CHARS:
        return None
    language, confidence = _get_identifier().classify(sample)
    if confidence < MIN_CONFIDENCE:
        return None
    return bcp47_tag(language)


def article_language(
    entry_language: str | None, feed_language: str | None, text: str
) -> str | None:
    """Return the declared language (entry, then feed) or else the detected one."""
    return bcp47_tag(entry_language) or bcp47_tag(feed_language) or detect_language(text)
