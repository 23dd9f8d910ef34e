"""A raw TCP server on 127.0.0.1 that answers each path with exact bytes, valid HTTP or not."""

from __future__ import annotations

import contextlib
import socket
import threading

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def redirect(location: bytes, status: int = 302) -> bytes:
    """A redirect response with location sent byte for byte as the Location header."""
    return (
        f"HTTP/1.1 {status} Redirect\r\n".encode()
        + b"Location: "
        + location
        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


class RawHTTPServer:
    """Reads a request's head, answers with the bytes routed to its path, and closes.

    A well-formed answer should say `Connection: close`, or a client may reuse the closed socket.
    """

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        """http://127.0.0.1:PORT/path"""
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}{path}"

    def route(self, path: str, raw: bytes) -> str:
        """Answer path with raw; returns its URL."""
        self.routes[path] = raw
        return self.url(path)

    def start(self) -> RawHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            parts = head.split(b" ", 2)
            path = parts[1].decode("latin-1").split("?")[0] if len(parts) > 1 else ""
            self.hits[path] = self.hits.get(path, 0) + 1
            conn.sendall(self.routes.get(path, NOT_FOUND))
