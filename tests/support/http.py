"""A real HTTP server on 127.0.0.1 with programmable routes, for fetch and webhook tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """What the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    """What a route answers. body may be bytes or an iterable of chunks (sent as they come)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


Handler = Callable[[Request], Response]


class LocalHTTPServer:
    """ThreadingHTTPServer on an ephemeral port; routes map a path to a handler."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path
                request = Request(
                    self.command, path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with server._lock:
                    server.requests.append(request)
                handler = server.routes.get(path.split("?")[0]) or server.routes.get(path)
                response = handler(request) if handler else Response(404, body=b"not found")
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(response)

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                headers = dict(response.headers)
                if isinstance(response.body, bytes):
                    headers.setdefault("Content-Length", str(len(response.body)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(response.body)
                    return
                headers.setdefault("Connection", "close")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                for chunk in response.body:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                self.close_connection = True

            do_GET = _handle
            do_POST = _handle
            do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        """The absolute URL of path on this server."""
        return self.base_url + path

    def route(self, path: str, handler: Handler | Response) -> None:
        """Serve path with a handler, or always the same Response."""
        self.routes[path] = handler if callable(handler) else (lambda _r, _resp=handler: _resp)

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
