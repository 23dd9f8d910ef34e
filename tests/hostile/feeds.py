"""Hostile feed bodies and servers, each on 127.0.0.1 (or 127.0.0.2 as the "private" target)."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.http import LocalHTTPServer, Response

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
SECRET = "CANARY-7f3a9c1e-do-not-leak"


def healthy_feed(name: str, entries: int = 3) -> bytes:
    """A small valid RSS feed with distinct entries."""
    items = "".join(
        f"<item><guid>urn:{name}:{n}</guid><link>https://healthy.example.org/{name}/{n}</link>"
        f"<title>{name} story {n} about the harbor budget vote</title>"
        f"<description>The {name} council met on day {n} to discuss bridge repairs, transit "
        f"fares and the museum roof, and agreed on item {n} of the agenda.</description></item>"
        for n in range(entries)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>https://healthy.example.org/{name}</link><description>ok</description>"
        f"{items}</channel></rss>"
    ).encode()


def _rss_with_doctype(doctype: str, title: str, description: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n<rss version="2.0"><channel>'
        "<title>hostile</title><link>https://hostile.example.org/</link><description>x</description>"
        f"<item><guid>urn:hostile:1</guid><link>https://hostile.example.org/1</link>"
        f"<title>{title}</title><description>{description}</description></item>"
        "</channel></rss>"
    ).encode()


def billion_laughs() -> bytes:
    """Ten levels of ten-fold entity expansion: 10^9 'lol's if expanded."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
    ]
    doctype = f"<!DOCTYPE rss [{''.join(levels)}]>"
    return _rss_with_doctype(doctype, "laughs &lol9;", "more &lol9; and &lol9;")


def quadratic_blowup() -> bytes:
    """One 50 KB entity referenced 5,000 times (no nesting): 250 MB if expanded."""
    doctype = f'<!DOCTYPE rss [<!ENTITY big "{"x" * 50_000}">]>'
    return _rss_with_doctype(doctype, "blowup", "&big;" * 5_000)


def external_entity(url: str) -> bytes:
    """An external general entity that asks the parser to fetch url."""
    doctype = f'<!DOCTYPE rss [<!ENTITY ext SYSTEM "{url}">]>'
    return _rss_with_doctype(doctype, "external &ext;", "body &ext;")


def parameter_entity(url: str) -> bytes:
    """An external parameter entity (the out-of-band XXE pattern)."""
    doctype = f'<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{url}"> %remote;]>'
    return _rss_with_doctype(doctype, "parameter entity", "body")


def xxe_file(path: Path) -> bytes:
    """Classic XXE: an entity whose value is a local file, used in the title and body."""
    doctype = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{path}">]>'
    return _rss_with_doctype(doctype, "leak &xxe;", "file says: &xxe;")


def many_entries(count: int) -> bytes:
    """One feed with count small, valid entries."""
    items = "".join(
        f"<item><guid>urn:many:{n}</guid><link>https://many.example.org/{n}</link>"
        f"<title>Entry {n}</title><description>Short entry number {n}.</description></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>many</title>'
        f"<link>https://many.example.org/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


def huge_entry(megabytes: int) -> bytes:
    """One entry whose description holds megabytes of text."""
    words = ("council harbor budget bridge transit museum " * 200).encode()
    chunk = words * (megabytes * 1024 * 1024 // len(words) + 1)
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>huge</title>'
        b"<link>https://huge.example.org/</link><description>d</description>"
        b"<item><guid>urn:huge:1</guid><link>https://huge.example.org/1</link>"
        b"<title>One very long report</title><description>"
        + chunk[: megabytes * 1024 * 1024]
        + b"</description></item></channel></rss>"
    )


def invalid_utf8() -> bytes:
    """Declared UTF-8, with invalid byte sequences in the title and body."""
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bad</title>'
        b"<link>https://bad.example.org/</link><description>d</description>"
        b"<item><guid>urn:bad:1</guid><link>https://bad.example.org/1</link>"
        b"<title>Caf\xe9 \xff\xfe broken \xc3\x28 bytes</title>"
        b"<description>Stra\xdfe \x80\x81 and more text about the council.</description></item>"
        b"</channel></rss>"
    )


def gzip_bomb(expanded_bytes: int) -> bytes:
    """gzip of expanded_bytes zero bytes (about 1,000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"\0" * (1 << 20)
    parts = [compressor.compress(block) for _ in range(expanded_bytes >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def drip(interval: float, limit_seconds: float = 30.0) -> Iterator[bytes]:
    """A body sent one byte at a time, forever (until limit_seconds)."""
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        time.sleep(interval)
        yield b"a"


def endless(limit_bytes: int = 1 << 31) -> Iterator[bytes]:
    """A body that never ends (until limit_bytes), 64 KiB at a time."""
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
    chunk = b"a" * 65536
    sent = 0
    while sent < limit_bytes:
        sent += len(chunk)
        yield chunk


class PrivateTarget:
    """An HTTP server on 127.0.0.2 standing for a private address; counts every request."""

    def __init__(self) -> None:
        self.hits = 0
        target = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                target.hits += 1
                body = f"<rss><channel><title>{SECRET}</title></channel></rss>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), _Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """The URL of path on 127.0.0.2."""
        return f"http://127.0.0.2:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()


def serve_hostile(server: LocalHTTPServer, canary: Path, private: PrivateTarget) -> dict[str, str]:
    """Route every hostile case on server; returns case name -> feed URL."""
    bomb = gzip_bomb(256 << 20)
    canary_url = server.url("/canary.txt")
    routes: dict[str, Response | Any] = {
        "slow_drip": lambda _r: Response(200, RSS, drip(0.2)),
        "endless_body": lambda _r: Response(200, RSS, endless()),
        "gzip_bomb": Response(200, {**RSS, "Content-Encoding": "gzip"}, bomb),
        "billion_laughs": Response(200, RSS, billion_laughs()),
        "quadratic_blowup": Response(200, RSS, quadratic_blowup()),
        "external_entity": Response(200, RSS, external_entity(canary_url)),
        "parameter_entity": Response(200, RSS, parameter_entity(canary_url)),
        "xxe_local_file": Response(200, RSS, xxe_file(canary)),
        "entries_50000": Response(200, RSS, many_entries(50_000)),
        "entry_20mb": Response(200, RSS, huge_entry(20)),
        "invalid_utf8": Response(200, RSS, invalid_utf8()),
        "html_content_type": Response(
            200,
            {"Content-Type": "text/html; charset=utf-8"},
            b"<html><body>Not a feed</body></html>",
        ),
        "png_content_type": Response(
            200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\0" * 512
        ),
        "rss_as_image_png": Response(200, {"Content-Type": "image/png"}, healthy_feed("as-png")),
        "redirect_to_private": Response(302, {"Location": private.url("/internal.rss")}),
    }
    server.route("/canary.txt", Response(200, {"Content-Type": "text/plain"}, SECRET.encode()))
    urls = {}
    for name, response in routes.items():
        server.route(f"/hostile/{name}", response)
        urls[name] = server.url(f"/hostile/{name}")
    return urls


def healthy_json_feed(name: str, entries: int = 3) -> bytes:
    """A small valid JSON Feed 1.1 with distinct entries."""
    items = [
        {
            "id": f"urn:{name}:{n}",
            "url": f"https://healthy.example.org/{name}/{n}",
            "title": f"{name} story {n} about the harbor budget vote",
            "content_text": f"The {name} council met on day {n} to discuss bridge repairs.",
        }
        for n in range(entries)
    ]
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": name,
        "home_page_url": f"https://healthy.example.org/{name}",
        "items": items,
    }
    return json.dumps(feed).encode()


def malformed_json_feed() -> bytes:
    """A JSON Feed cut off in the middle of its first item."""
    return b'{"version": "https://jsonfeed.org/version/1.1", "title": "cut", "items": [{"id": "1",'


def deeply_nested_feed(depth: int = 200_000) -> bytes:
    """An RSS feed whose one entry nests depth elements in its description."""
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>deep</title>'
        b"<link>https://deep.example.org/</link><description>d</description>"
        b"<item><guid>urn:deep:1</guid><title>deep</title><description>"
        + b"<a>" * depth
        + b"</a>" * depth
        + b"</description></item></channel></rss>"
    )
