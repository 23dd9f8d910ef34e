"""Fold text for matching: lower case, no diacritics, punctuation as spaces, offsets kept."""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache

import numpy as np

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ASCII_PUNCT = re.compile(r"[^0-9a-z \x80-\U0010ffff]")
# Letters that NFKD does not decompose but readers treat as their base letter.
_EXTRA_BASE = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ı": "i", "ħ": "h"})


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    """The folded form of one character: a letter or digit without marks, else a space."""
    if char.isspace():
        return " "
    base = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    ).lower()
    base = base.translate(_EXTRA_BASE)
    if not base:
        return ""  # a lone combining mark disappears
    if not all(c.isalnum() for c in base):
        return " "
    return base


def _fold_match(match: re.Match[str]) -> str:
    return _fold_char(match.group())


_ASCII_TABLE = bytes(c if chr(c).isalnum() else 32 for c in range(256)).lower()


class _NotAsciiFoldable(Exception):
    """A non-ASCII run folds to non-ASCII text or to another length: the codec path gives up."""


# Non-ASCII runs seen in text and their ASCII folds: mostly single accented letters ("é").
_ascii_runs: dict[str, str] = {}
_ASCII_RUNS_KEPT = 65536


def _fold_for_codec(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: the folded form of a run of non-ASCII characters, if plain ASCII."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run = error.object[error.start : error.end]
    folded = _ascii_runs.get(run)
    if folded is None:
        folded = "".join(map(_fold_char, run))
        if len(folded) != len(run) or not folded.isascii():
            raise _NotAsciiFoldable
        if len(_ascii_runs) >= _ASCII_RUNS_KEPT:
            _ascii_runs.clear()
        _ascii_runs[run] = folded
    return folded, error.end


_CODEC_ERRORS = "newsworker-fold"
codecs.register_error(_CODEC_ERRORS, _fold_for_codec)


def _latin1_table() -> bytes:
    """The fold of every Latin-1 character as one ASCII byte; 0xFF where it is not one."""
    table = bytearray(_ASCII_TABLE[:128])
    for code in range(128, 256):
        folded = _fold_char(chr(code))
        table.append(_ASCII_TABLE[ord(folded)] if len(folded) == 1 and folded.isascii() else 0xFF)
    return bytes(table)


_LATIN1_TABLE = _latin1_table()
_NOT_FOLDED = b"\xff"
# Punctuation beyond Latin-1 that news text is full of: a codec callback per run of it cost
# more than the rest of the fold, so it is blanked first (each folds to a space). Text with
# none of the two most common marks skips the other scans.
_COMMON_PUNCTUATION = tuple(char for char in "’“”—–" if _fold_char(char) == " ")
_APOSTROPHE, _OPENING_QUOTE = "’", "“"


def fold_text(text: str) -> tuple[str, list[int] | None]:
    """Fold text; return it and, only when lengths differ, a map from folded to original index.

    The map has one entry per folded character plus one for the end, so a folded span [s, e)
    is the original span [map[s], map[e]).
    """
    folded = fold_ascii(text)
    if folded is not None:
        return folded.decode("ascii"), None
    return fold_beyond_ascii(text)


def fold_ascii(text: str) -> bytes | None:
    """fold_text as ASCII bytes, when each character folds to one ASCII character; else None."""
    if text.isascii():
        # bytes.translate lowers and blanks punctuation in one C pass.
        return text.encode("ascii").translate(_ASCII_TABLE)
    if _APOSTROPHE in text or _OPENING_QUOTE in text:
        for char in _COMMON_PUNCTUATION:
            if char in text:
                text = text.replace(char, " ")
    try:
        # The Latin-1 codec scans in C and calls _fold_for_codec only on runs beyond Latin-1
        # (ğ, ł, rarer punctuation); the table folds the Latin-1 letters (é, ñ, ö) in C.
        latin1 = text.encode("latin-1", _CODEC_ERRORS).translate(_LATIN1_TABLE)
    except _NotAsciiFoldable:
        pass
    else:
        if _NOT_FOLDED not in latin1:
            return latin1
    try:
        # The ASCII codec scans in C and calls _fold_for_codec only on non-ASCII runs.
        ascii_text = text.encode("ascii", _CODEC_ERRORS)
    except _NotAsciiFoldable:
        return None
    return ascii_text.translate(_ASCII_TABLE)


def fold_beyond_ascii(text: str) -> tuple[str, list[int] | None]:
    """fold_text for text that fold_ascii returns None for."""
    # Non-ASCII characters fold one by one (they are few); the ASCII rest goes through the table.
    folded = _NON_ASCII.sub(_fold_match, text)
    if len(folded) == len(text):
        if folded.isascii():
            return folded.encode("ascii").translate(_ASCII_TABLE).decode("ascii"), None
        lowered = folded.lower()
        if len(lowered) == len(text):
            return _ASCII_PUNCT.sub(" ", lowered), None
    return _fold_with_offsets(text)


def _fold_non_ascii(text: str) -> str:
    """Fold only the non-ASCII characters; the ASCII rest is left for the byte table."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    non_ascii = codes > 0x7F
    distinct = np.unique(codes[non_ascii])
    replacements = [_fold_char(chr(code)) for code in distinct.tolist()]
    if all(len(folded) == 1 and folded.isascii() for folded in replacements):
        # Every one folds to one ASCII character: replace them all in one vectorised pass.
        folded_codes = np.array([ord(folded) for folded in replacements], dtype=np.uint32)
        ascii_codes = codes.astype(np.uint8)
        ascii_codes[non_ascii] = folded_codes[np.searchsorted(distinct, codes[non_ascii])]
        return ascii_codes.tobytes().decode("ascii")
    if not all(folded.isascii() for folded in replacements):
        # A folded form may itself be a character to replace: fold each occurrence once.
        return _NON_ASCII.sub(_fold_match, text)
    # One C-speed replace per distinct character beats a Python callback per occurrence.
    for code, folded in zip(distinct.tolist(), replacements, strict=True):
        text = text.replace(chr(code), folded)
    return text


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    parts: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        lowered = char.lower()
        folded = "".join(_fold_char(c) for c in lowered)
        folded = "".join(c if c.isalnum() else " " for c in folded)
        parts.append(folded)
        offsets.extend([index] * len(folded))
    offsets.append(len(text))
    return "".join(parts), offsets


def fold_alias(alias: str) -> str:
    """The folded, space-normalized form of an alias, as the automaton stores it."""
    folded, _ = fold_text(alias)
    return " ".join(folded.split())


def fold_alias_as_text(alias: str) -> str:
    """The alias folded as fold_text folds article text, ends stripped: "St. Louis", "st  louis".

    fold_alias collapses the two spaces that punctuation and a space fold to, which text never
    does; this form matches the alias where the text writes it with its punctuation.
    """
    folded, _ = fold_text(" ".join(alias.split()))
    return folded.strip(" ")


# Two neighbours that both fold to a space, one of them punctuation ("t. l", "n' d", "s, s"):
# where fold_alias and fold_alias_as_text may differ. NUL separates aliases.
_PUNCTUATION_GAP = re.compile(r"(?:[^\w\s\x00]|_)(?:\W|_)|(?:\W|_)(?:[^\w\s\x00]|_)")
# Marks that end an alias and belong in its mention: "U.S.", "Inc.", "Yahoo!".
_TRAILING_MARK = re.compile(r"[.!](?=\x00|\Z)")


def _alias_indices(joined: str, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
    """(alias index, last character of the match) per alias of joined the pattern finds."""
    found: list[tuple[int, str]] = []
    index, last = 0, 0
    for match in pattern.finditer(joined):
        position = match.end() - 1
        index += joined.count(_SEPARATOR, last, position)
        last = position
        if not found or found[-1][0] != index:
            found.append((index, joined[position]))
    return found


def aliases_folded_as_text(aliases: list[str]) -> list[tuple[int, str, str]]:
    """(index, fold_alias_as_text, inner punctuation) of the aliases whose text form differs."""
    joined = _SEPARATOR.join(aliases)
    variants = []
    for index, _ in _alias_indices(joined, _PUNCTUATION_GAP):
        alias = aliases[index]
        as_text = fold_alias_as_text(alias)
        if as_text and as_text != fold_alias(alias):
            variants.append((index, as_text, inner_punctuation(alias)))
    return variants


_QUOTES = str.maketrans("’‘“”", "''\"\"")
_WORD_CHARS = re.compile(r"[^\W_]+")


def inner_punctuation(text: str) -> str:
    """The marks between the first and last letter or digit, quotes straightened: "J.P. M" ".."."""
    words = _WORD_CHARS.findall(text)
    if len(words) < 2:
        return ""
    first, last = text.find(words[0]), text.rfind(words[-1])
    inner = _WORD_CHARS.sub("", text[first + len(words[0]) : last])
    return "".join(inner.split()).translate(_QUOTES)


def trailing_marks(aliases: list[str]) -> list[tuple[int, str]]:
    """(index, mark) of the aliases that end with a mark their mentions keep ("U.S.")."""
    return _alias_indices(_SEPARATOR.join(aliases), _TRAILING_MARK)


_SEPARATOR = "\x00"
_SPACE_RUN = re.compile(r"  +")
_ASCII_TABLE_KEEP_NUL = b"\x00" + _ASCII_TABLE[1:]
_ASCII_PUNCT_KEEP_SEPARATOR = re.compile(r"[^0-9a-z \x00\x80-\U0010ffff]")


def fold_aliases_joined(aliases: list[str]) -> str:
    """The fold_alias forms of the aliases, joined by NUL characters."""
    joined = _SEPARATOR.join(aliases)
    if joined.count(_SEPARATOR) != max(len(aliases) - 1, 0):
        return _SEPARATOR.join(map(fold_alias, aliases))  # folding turns NUL into a space
    folded = _fold_non_ascii(joined) if not joined.isascii() else joined
    if len(folded) != len(joined):
        return _SEPARATOR.join(map(fold_alias, aliases))
    if folded.isascii():
        # One C pass, as in fold_text; the NUL separator survives.
        folded = folded.encode("ascii").translate(_ASCII_TABLE_KEEP_NUL).decode("ascii")
    else:
        lowered = folded.lower()
        if len(lowered) != len(joined):
            return _SEPARATOR.join(map(fold_alias, aliases))
        folded = _ASCII_PUNCT_KEEP_SEPARATOR.sub(" ", lowered)
    # Space runs are single at this point: strip each alias by dropping the spaces beside
    # separators.
    folded = _SPACE_RUN.sub(" ", folded).replace(" " + _SEPARATOR, _SEPARATOR)
    return folded.replace(_SEPARATOR + " ", _SEPARATOR).strip(" ")
