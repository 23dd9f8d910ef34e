"""HMAC-SHA256 webhook signatures: `X-Newsworker-Signature: t=<unix>,v1=<hex>`."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Newsworker-Signature"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """Return the signature header value for body, signed at timestamp (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance_seconds: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """True when header signs body with secret and its timestamp is within the tolerance."""
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, c) for c in candidates)
