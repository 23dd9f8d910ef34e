"""Stream the official Wikidata JSON dump: one entity per line, plain, gzip or bz2, or stdin.

The dump is a JSON array written one entity per line, each line ending in a comma; the first
and last lines are `[` and `]`. Lines are read one at a time and never joined, so memory does
not grow with the dump. A truncated compressed file ends the stream with a counted problem
instead of an exception.
"""

from __future__ import annotations

import bz2
import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

READ_CHUNK = 1 << 20


class CountingReader(io.RawIOBase):
    """A raw byte stream that counts the (compressed) bytes read through it, for progress."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill buffer from the underlying stream and count what was read."""
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n

    def close(self) -> None:
        """Close the underlying stream unless it is stdin's."""
        if self._raw is not sys.stdin.buffer:
            self._raw.close()
        super().close()


@dataclass
class DumpStream:
    """An open dump: decompressed lines, the compressed bytes read so far, and any problem."""

    source: str
    counter: CountingReader
    size: int | None
    problems: list[tuple[int, str]] = field(default_factory=list)
    lines_read: int = 0
    _handle: IO[bytes] | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes of the input (compressed, when it is) read so far."""
        return self.counter.bytes_read

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, line) for every line; a truncated or corrupt end is a recorded problem."""
        assert self._handle is not None
        number = self.lines_read
        try:
            for line in self._handle:
                number += 1
                self.lines_read = number
                yield number, line
        except (EOFError, OSError, zlib.error) as e:
            self.problems.append((number + 1, f"input ends early or is corrupt: {e}"))

    def close(self) -> None:
        """Close the decompressor and the input."""
        if self._handle is not None:
            self._handle.close()
        self.counter.close()


def _compression(head: bytes, name: str) -> str:
    if head.startswith(b"\x1f\x8b") or name.endswith(".gz"):
        return "gz"
    if head.startswith(b"BZh") or name.endswith(".bz2"):
        return "bz2"
    return "plain"


def open_dump(source: str | Path) -> DumpStream:
    """Open a dump file (plain, .gz or .bz2, told by its first bytes) or `-` for stdin."""
    name = str(source)
    if name == "-":
        raw: IO[bytes] = sys.stdin.buffer
        size = None
    else:
        raw = Path(name).open("rb")  # noqa: SIM115 (closed by DumpStream.close)
        size = Path(name).stat().st_size
    counter = CountingReader(raw)
    buffered = io.BufferedReader(counter, buffer_size=READ_CHUNK)
    kind = _compression(buffered.peek(3)[:3], name)
    handle: IO[bytes]
    if kind == "gz":
        handle = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
    elif kind == "bz2":
        handle = bz2.BZ2File(buffered, mode="rb")
    else:
        handle = buffered
    return DumpStream(source=name, counter=counter, size=size, _handle=handle)


def entity_bytes(line: bytes) -> bytes | None:
    """The entity's JSON in one dump line, without the trailing comma; None for `[`, `]`, blank."""
    text = line.strip()
    if text.endswith(b","):
        text = text[:-1].rstrip()
    if not text or text in (b"[", b"]"):
        return None
    return text


def parse_entity(text: bytes) -> dict[str, Any]:
    """One entity as a dict; ValueError names what is wrong."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ValueError("an entity must be a JSON object")
    return value
