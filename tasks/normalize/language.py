"""Declared language tags to BCP 47, and detection with the model shipped in py3langid."""

from __future__ import annotations

import re
import threading
from typing import Any

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

_identifier: Any = None
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


def _get_identifier() -> Any:
    global _identifier  # noqa: PLW0603  (one model per process, loaded on first use)
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
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
    if float(confidence) < MIN_CONFIDENCE:
        return None
    return bcp47_tag(str(language))


def article_language(
    entry_language: str | None, feed_language: str | None, text: str
) -> str | None:
    """Return the declared language (entry, then feed) or else the detected one."""
    return bcp47_tag(entry_language) or bcp47_tag(feed_language) or detect_language(text)
