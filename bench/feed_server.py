"""A fast asyncio feed server for benchmarks: /feed/<n> with ETags; every 10th feed changes.

Run: python bench/feed_server.py [--port 0] [--changed-every 10] [--new-entries 20]; prints
"PORT <n>" when ready. Each feed holds 20 items. Feed n answers 304 to a matching If-None-Match,
except feeds with n % changed_every == 0, whose ETag and body change on every request: the
newest `new_entries` items are new each round, the others are the previous round's items.
"""

from __future__ import annotations

import argparse
import asyncio
from email.utils import formatdate

ITEM = (
    "<item><title>Story {n}.{k}</title><link>http://feeds.example/{n}/{k}</link>"
    "<guid>{n}-{k}</guid><pubDate>{date}</pubDate><description>Body of story {k} of "
    "feed {n}. Lorem ipsum dolor sit amet.</description></item>"
)
ITEMS_PER_FEED = 20


def render(n: int, version: int, new_entries: int = ITEMS_PER_FEED) -> bytes:
    date = formatdate(usegmt=True)
    first = version * new_entries
    items = "".join(
        ITEM.format(n=n, k=k, date=date) for k in range(first + ITEMS_PER_FEED - 1, first - 1, -1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>http://feeds.example/{n}</link>{items}</channel></rss>"
    ).encode()


class FeedProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive handler: enough for GET with If-None-Match."""

    def __init__(self, hits: dict[int, int], changed_every: int, new_entries: int) -> None:
        self.hits = hits
        self.changed_every = changed_every
        self.new_entries = new_entries
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.respond(head)

    def respond(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        try:
            n = int(path.rsplit("/", 1)[1])
        except ValueError:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        count = self.hits.get(n, 0)
        self.hits[n] = count + 1
        version = count if n % self.changed_every == 0 else 0
        etag = f'"{n}-{version}"'
        if headers.get("if-none-match") == etag:
            self.transport.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
            return
        body = render(n, version, self.new_entries)
        self.transport.write(
            (
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )


async def serve(port: int, changed_every: int, new_entries: int) -> None:
    hits: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FeedProtocol(hits, changed_every, new_entries), "127.0.0.1", port, backlog=1024
    )
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--changed-every", type=int, default=10)
    parser.add_argument("--new-entries", type=int, default=ITEMS_PER_FEED)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.changed_every, args.new_entries))


if __name__ == "__main__":
    main()
