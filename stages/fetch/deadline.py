"""The fetch's total deadline: a context variable every socket connect, read and write obeys."""

from __future__ import annotations

import contextvars
import time
from typing import Any

import httpcore

# Monotonic deadline of the fetch running in this thread/context.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "newsworker_fetch_deadline", default=None
)


def start_deadline(at: float) -> contextvars.Token[float | None]:
    """Bound every socket call of this context by monotonic time at; undo with end_deadline."""
    return _deadline.set(at)


def end_deadline(token: contextvars.Token[float | None]) -> None:
    """Restore the deadline start_deadline replaced."""
    _deadline.reset(token)


def remaining(timeout: float | None) -> float | None:
    """The smaller of a per-operation timeout and what is left of the fetch's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("total timeout reached")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write stops at the fetch's total deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, remaining(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
