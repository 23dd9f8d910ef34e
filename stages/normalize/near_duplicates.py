"""Near-duplicate detection: one-permutation MinHash over word 3-shingles, plus an LSH index.

Each shingle is hashed once; the hash picks one of SIGNATURE_BINS bins and the bin keeps its
smallest value (one-permutation hashing). The share of bins two signatures agree on, among
bins not empty in both, estimates the Jaccard similarity of their shingle sets.

Word 3-shingles rather than 5: a 5% word edit touches ~15% of 3-shingles (Jaccard ~0.74)
but ~25% of 5-shingles (~0.6), so edited copies stay well clear of the threshold while
unrelated articles stay near 0. NEAR_DUPLICATE_THRESHOLD is chosen from the tests in
tests/test_normalize_near_duplicates.py: header/footer variants (~0.9) and 5%-edited copies
(~0.7-0.8) join, unrelated articles (< 0.1) never do.
"""

from __future__ import annotations

import struct
from operator import eq

import numpy as np
import numpy.typing as npt

SIGNATURE_BINS = 128
SHINGLE_WORDS = 3
NEAR_DUPLICATE_THRESHOLD = 0.5
LSH_ROWS_PER_BAND = 4
_EMPTY = 0xFFFFFFFF
_MIX_A = np.uint64(0x9E3779B97F4A7C15)
_MIX_B = np.uint64(0xC2B2AE3D27D4EB4F)
_MIX_C = np.uint64(0xFF51AFD7ED558CCD)
# Signatures read the first 128 KiB of UTF-8: plenty to tell stories apart.
SIGNATURE_MAX_BYTES = 1 << 17
_POLY = 0x100000001B3
_POWERS = np.cumprod(np.full(SIGNATURE_MAX_BYTES, _POLY, dtype=np.uint64))
_INVERSE_POWERS = np.cumprod(np.full(SIGNATURE_MAX_BYTES, pow(_POLY, -1, 1 << 64), dtype=np.uint64))
# Word bytes: ASCII letters, digits, underscore, and every byte of a non-ASCII character.
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz_", dtype=np.uint8)] = True
_WORD_BYTE[0x80:] = True
_UNPACK = struct.Struct(f">{SIGNATURE_BINS}I")
_BAND_BYTES = 4 * LSH_ROWS_PER_BAND
_EMPTY_BAND_BYTES = b"\xff" * _BAND_BYTES
_BAND_OFFSETS = range(0, 4 * SIGNATURE_BINS, _BAND_BYTES)


def _word_hashes(text: str) -> npt.NDArray[np.uint64]:
    """A 64-bit polynomial hash per word, computed for all words at once with prefix sums.

    hash(word at [start, end)) = sum((byte + 1) * P**i for i in [start, end)) * P**-start,
    which does not depend on where the word stands (P is odd, so P**-1 exists mod 2**64).
    """
    data = np.frombuffer(text.lower().encode()[:SIGNATURE_MAX_BYTES], dtype=np.uint8)
    size = len(data)
    # Word flags padded with a non-word byte each side: +1 marks a word start, -1 its end.
    flags = np.zeros(size + 2, dtype=np.int8)
    flags[1:-1] = _WORD_BYTE[data]
    edges = flags[1:] - flags[:-1]
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    prefix = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum((data + np.uint64(1)) * _POWERS[:size], out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * _INVERSE_POWERS[starts]
    return hashes.astype(np.uint64, copy=False)


def _bins(text: str) -> npt.NDArray[np.uint64]:
    """Per bin, the smallest 32-bit shingle hash."""
    word_hashes = _word_hashes(text)
    if not len(word_hashes):
        return np.full(SIGNATURE_BINS, _EMPTY, dtype=np.uint64)
    if len(word_hashes) < SHINGLE_WORDS:
        mixed = np.array([word_hashes.sum()], dtype=np.uint64)
    else:
        # uint64 arithmetic wraps, which is what a hash mix wants.
        mixed = (word_hashes[:-2] * _MIX_A + word_hashes[1:-1] * _MIX_B + word_hashes[2:]) * _MIX_C
    mixed ^= mixed >> np.uint64(29)
    mixed *= _MIX_C
    mixed ^= mixed >> np.uint64(32)
    slots = (mixed % np.uint64(SIGNATURE_BINS)).astype(np.intp)
    values = (mixed >> np.uint64(7)) & np.uint64(0xFFFFFFFE)  # never equal to _EMPTY
    mins = np.full(SIGNATURE_BINS, _EMPTY, dtype=np.uint64)
    np.minimum.at(mins, slots, values)
    return mins


def text_signature(text: str) -> str:
    """Return the text's MinHash signature as hex (SIGNATURE_BINS x 32 bits, big-endian)."""
    return _bins(text).astype(">u4").tobytes().hex()


def _decode(signature: str) -> tuple[int, ...]:
    return _UNPACK.unpack(bytes.fromhex(signature))


def similarity(signature_a: str, signature_b: str) -> float:
    """Estimate the Jaccard similarity of two texts from their signatures (0.0 to 1.0)."""
    return _similarity(_decode(signature_a), _decode(signature_b))


def _similarity(bins_a: tuple[int, ...], bins_b: tuple[int, ...]) -> float:
    if _EMPTY not in bins_a or _EMPTY not in bins_b:
        # No bin is empty in both (the common case for real articles): count matches in C.
        return int(sum(map(eq, bins_a, bins_b))) / SIGNATURE_BINS
    filled = same = 0
    for a, b in zip(bins_a, bins_b, strict=True):
        if a == _EMPTY and b == _EMPTY:
            continue
        filled += 1
        if a == b:
            same += 1
    return same / filled if filled else 0.0


class NearDuplicateIndex:
    """In-memory LSH over signatures: bands of LSH_ROWS_PER_BAND bins find candidates.

    A band is a slice of the raw signature bytes, with one dict per band position: short bytes
    hash much faster than tuples of ints. Most buckets hold one key, stored bare rather than in
    a set, since the index is updated per article and a set per band costs more than the rest.
    """

    def __init__(self, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> None:
        self.threshold = threshold
        self._signatures: dict[str, bytes] = {}
        self._buckets: tuple[dict[bytes, str | list[str]], ...] = tuple({} for _ in _BAND_OFFSETS)

    def __len__(self) -> int:
        return len(self._signatures)

    def add(self, key: str, signature: str) -> None:
        """Index signature under key (re-adding a key replaces it)."""
        if key in self._signatures:
            self.remove(key)
        raw = bytes.fromhex(signature)
        self._signatures[key] = raw
        for buckets, offset in zip(self._buckets, _BAND_OFFSETS, strict=True):
            band = raw[offset : offset + _BAND_BYTES]
            if band == _EMPTY_BAND_BYTES:
                continue  # an all-empty band says nothing about similarity
            held = buckets.get(band)
            if held is None:
                buckets[band] = key
            elif isinstance(held, str):
                buckets[band] = [held, key]
            else:
                held.append(key)

    def remove(self, key: str) -> None:
        """Forget key if it is indexed."""
        raw = self._signatures.pop(key, None)
        if raw is None:
            return
        for buckets, offset in zip(self._buckets, _BAND_OFFSETS, strict=True):
            band = raw[offset : offset + _BAND_BYTES]
            held = buckets.get(band)
            if held is None:
                continue
            if isinstance(held, str):
                if held == key:
                    del buckets[band]
                continue
            if key in held:
                held.remove(key)
            if len(held) == 1:
                buckets[band] = held[0]

    def query(self, signature: str) -> list[str]:
        """Return indexed keys at or above the threshold, most similar first."""
        raw = bytes.fromhex(signature)
        candidates: set[str] = set()
        for buckets, offset in zip(self._buckets, _BAND_OFFSETS, strict=True):
            band = raw[offset : offset + _BAND_BYTES]
            held = buckets.get(band)
            if held is None or band == _EMPTY_BAND_BYTES:
                continue
            if isinstance(held, str):
                candidates.add(held)
            else:
                candidates.update(held)
        if not candidates:
            return []
        bins = _UNPACK.unpack(raw)
        signatures = self._signatures
        scored = [(_similarity(bins, _UNPACK.unpack(signatures[key])), key) for key in candidates]
        return [key for score, key in sorted(scored, reverse=True) if score >= self.threshold]
