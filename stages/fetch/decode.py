"""Content-Encoding decoders whose output is bounded per step, so a bomb stops at the cap."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from newsworker.stages.errors import BodyTooLarge, FetchError

try:  # br is advertised only when a decoder is installed (an optional dependency).
    import brotli as _brotli  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if _brotli is not None else "gzip, deflate"


def decode(raw: Iterator[bytes], encodings: list[str], cap: int, url: str) -> Iterator[bytes]:
    """Undo the Content-Encodings (in the order applied) of a raw chunk stream."""
    stream = raw
    for encoding in reversed(encodings):
        stream = _decode_one(stream, encoding, cap, url)
    return stream


def _decode_one(raw: Iterator[bytes], encoding: str, cap: int, url: str) -> Iterator[bytes]:
    if encoding in ("gzip", "x-gzip"):
        return _inflate(raw, zlib.MAX_WBITS | 16, cap, url)
    if encoding == "deflate":
        return _inflate(raw, None, cap, url)
    if encoding == "br" and _brotli is not None:
        return _unbrotli(raw, cap, url)
    raise FetchError(f"unsupported Content-Encoding {encoding!r}", url=url)


def _inflate(raw: Iterator[bytes], wbits: int | None, cap: int, url: str) -> Iterator[bytes]:
    """Inflate with bounded output per call, so a gzip bomb never expands past the cap."""
    decompressor: Any = None
    produced = 0
    try:
        for raw_chunk in raw:
            data = raw_chunk
            if decompressor is None:
                if wbits is None:  # deflate: zlib-wrapped per the RFC, raw deflate in practice
                    wrapped = (
                        len(data) >= 2
                        and (data[0] & 0x0F) == 8
                        and ((data[0] << 8) | data[1]) % 31 == 0
                    )
                    wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
                decompressor = zlib.decompressobj(wbits)
            while data:
                out = decompressor.decompress(data, cap + 1 - produced)
                produced += len(out)
                if out:
                    yield out
                if produced > cap:
                    raise BodyTooLarge(f"decompressed body exceeds {cap} bytes", url=url)
                data = decompressor.unconsumed_tail
        if decompressor is not None:
            tail = decompressor.flush()
            if tail:
                yield tail
    except zlib.error as e:
        raise FetchError(f"corrupt compressed body: {e}", url=url) from e


def _unbrotli(raw: Iterator[bytes], cap: int, url: str) -> Iterator[bytes]:  # pragma: no cover
    decompressor = _brotli.Decompressor()
    for data in raw:
        try:
            out = decompressor.process(data)
        except Exception as e:
            raise FetchError(f"corrupt brotli body: {e}", url=url) from e
        if len(out) > cap:
            raise BodyTooLarge(f"decompressed body exceeds {cap} bytes", url=url)
        yield out
