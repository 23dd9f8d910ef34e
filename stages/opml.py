"""Pure OPML reading and writing; the reader refuses entity declarations (no XXE, no bombs)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from newsworker.stages.errors import ParseError


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed outline: its xmlUrl and title."""

    url: str
    title: str | None = None


# What XML 1.0 cannot carry at all, not even as a character reference (most C0 controls, lone
# surrogates, U+FFFE and U+FFFF), and the DEL and C1 controls it discourages.
_NOT_XML = re.compile(r"[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(value: str) -> str:
    return _NOT_XML.sub("", value)


def _refuse_entities(*_args: object) -> NoReturn:
    raise ParseError("OPML with entity declarations is refused")


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Every outline with an xmlUrl, nested ones included, in order and without duplicates."""
    feeds: dict[str, OpmlFeed] = {}

    def start(name: str, attributes: dict[str, str]) -> None:
        if name.lower() != "outline":
            return
        lowered = {key.lower(): value for key, value in attributes.items()}
        url = (lowered.get("xmlurl") or "").strip()
        if url and url not in feeds:
            title = (lowered.get("title") or lowered.get("text") or "").strip() or None
            feeds[url] = OpmlFeed(url=url, title=title)

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EntityDeclHandler = _refuse_entities
    parser.ExternalEntityRefHandler = _refuse_entities
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise ParseError(f"OPML is not well-formed XML: {e}") from e
    return list(feeds.values())


def write_opml(feeds: Iterable[tuple[str, str | None]], *, title: str = "newsworker feeds") -> str:
    """An OPML 2.0 document with one outline per (url, title)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for url, feed_title in feeds:
        # quoteattr escapes &, <, > and quotes, and keeps tabs and newlines as references.
        label = quoteattr(_xml_safe(feed_title or url))
        link = quoteattr(_xml_safe(url))
        lines.append(f'    <outline type="rss" text={label} title={label} xmlUrl={link}/>')
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return _xml_safe(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
