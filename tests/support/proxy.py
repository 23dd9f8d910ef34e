"""A TCP proxy on 127.0.0.1 that a test can cut and restore, to take a service "down" for a while.

Cutting closes every open connection and refuses new ones (accepted, then closed at once), so
clients see exactly what a crashed or unreachable server looks like, without touching the shared
service behind the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TCPProxy:
    """Forward 127.0.0.1:<port> to target_host:target_port until cut()."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0
        self.refused = 0

    @property
    def port(self) -> int:
        """The local port clients connect to."""
        return int(self._listener.getsockname()[1])

    def start(self) -> TCPProxy:
        """Start accepting."""
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until restore()."""
        self._cut.set()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._cut.clear()

    @property
    def is_cut(self) -> bool:
        """True while the proxy refuses connections."""
        return self._cut.is_set()

    def stop(self) -> None:
        """Cut everything and close the listener."""
        self._stop.set()
        self.cut()
        self._thread.join(2)
        self._listener.close()

    def __enter__(self) -> TCPProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
