"""Response bodies: read under the size cap (after decoding), or drained to reuse the socket."""

from __future__ import annotations

import httpx

from newsworker.stages.errors import BodyTooLarge
from newsworker.stages.fetch.decode import decode

_CHUNK_BYTES = 64 * 1024
# Unread bodies up to this size (304s, redirects, errors) are drained to keep the connection.
_DRAIN_BYTES = 64 * 1024


def read_body(response: httpx.Response, cap: int, url: str) -> bytes:
    """Stream the body, decoding it ourselves so the cap holds after decompression too."""
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > cap:
        raise BodyTooLarge(f"Content-Length {length} exceeds {cap} bytes", url=url)
    encodings = [
        e.strip().lower()
        for e in response.headers.get("content-encoding", "").split(",")
        if e.strip() and e.strip().lower() != "identity"
    ]
    chunks = decode(response.iter_raw(_CHUNK_BYTES), encodings, cap, url)
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise BodyTooLarge(f"body exceeds {cap} bytes", url=url)
        parts.append(chunk)
    return b"".join(parts)


def release(response: httpx.Response) -> None:
    """Close the response, first draining a small unread body so the connection is reused."""
    if not response.is_stream_consumed:
        length = response.headers.get("content-length", "0" if response.status_code == 304 else "")
        if length.isdigit() and int(length) <= _DRAIN_BYTES:
            try:
                for _ in response.iter_raw():
                    pass
            except httpx.HTTPError:
                pass
    response.close()
