"""Numbered citation markers ([1], [3][5]): drop the dangling ones, link the sourced ones."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from newsworker.stages.records import Citation

_MARKER_RUN = re.compile(r"[ \t]?(?:\[\d{1,3}\])+")
# A numbered list in sanitized HTML (nh3 output: lower-case tags, quoted attributes).
_ORDERED_LIST = re.compile(r"<ol(?:\s[^>]*)?>(.*?)</ol>", re.S)
_LIST_START = re.compile(r'<ol\s[^>]*start="(\d{1,3})"')
_LIST_ITEM = re.compile(r"<li(?:\s[^>]*)?>(.*?)</li>", re.S)
_LINK = re.compile(r'<a\s[^>]*href="(https?://[^"]+)"[^>]*>(.*?)</a>', re.S)
_ANY_TAG = re.compile(r"<[^>]*>")
_SOURCES_HEADING = re.compile(
    r"\b(?:sources?|references?|notes|citations|footnotes|bibliography|quellen|"
    r"références|fuentes|fonti)\b",
    re.I,
)
# How far before a list its heading may stand, in characters of sanitized HTML.
_HEADING_WINDOW = 200
_MAX_SOURCE_TITLE = 300
_MARKER = re.compile(r"\[(\d{1,3})\]")
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")


def extract_sources(sanitized_html: str) -> tuple[Citation, ...]:
    """The numbered sources an article lists itself: its last ordered list of links.

    A list counts when a heading such as "Sources" or "References" stands just before it, or
    when every item links out; item n is source n (from the list's start number). Markers that
    point into it are then kept and linked, the others removed.
    """
    if "<ol" not in sanitized_html or not _MARKER.search(sanitized_html):
        return ()
    lists = list(_ORDERED_LIST.finditer(sanitized_html))
    if not lists:
        return ()
    last = lists[-1]
    items = _LIST_ITEM.findall(last.group(1))
    links = [_LINK.search(item) for item in items]
    if not items or not any(links):
        return ()
    lead = sanitized_html[max(0, last.start() - _HEADING_WINDOW) : last.start()]
    before = _ANY_TAG.sub(" ", lead)
    if not _SOURCES_HEADING.search(before) and not all(links):
        return ()
    start_match = _LIST_START.match(last.group(0))
    first = int(start_match.group(1)) if start_match else 1
    sources: list[Citation] = []
    for number, (item, link) in enumerate(zip(items, links, strict=True), start=first):
        if link is None:
            continue
        title = " ".join(html.unescape(_ANY_TAG.sub(" ", item)).split())[:_MAX_SOURCE_TITLE]
        sources.append(Citation(number=number, title=title, url=html.unescape(link.group(1))))
    return tuple(sources)


def strip_citation_markers(text: str, sources: Iterable[Citation] = ()) -> str:
    """Remove markers from text except those whose number has a source."""
    if "[" not in text:
        return text
    known = {source.number for source in sources}

    def keep_known(run: re.Match[str]) -> str:
        kept = "".join(m.group(0) for m in _MARKER.finditer(run.group(0)) if int(m[1]) in known)
        if not kept:
            return ""
        return run.group(0)[0] + kept if run.group(0)[0] in " \t" else kept

    return _MARKER_RUN.sub(keep_known, text)


def link_citation_markers(sanitized_html: str, sources: Iterable[Citation], rel: str) -> str:
    """In sanitized HTML, link markers to their sources and drop markers without one."""
    if "[" not in sanitized_html:
        return sanitized_html
    by_number = {source.number: source for source in sources}
    rel_attr = html.escape(rel, quote=True)

    def replace_run(run: re.Match[str]) -> str:
        out = []
        for marker in _MARKER.finditer(run.group(0)):
            source = by_number.get(int(marker[1]))
            if source is None:
                continue
            if not source.url.lower().startswith(("http://", "https://")):
                out.append(marker[0])
                continue
            href = html.escape(source.url, quote=True)
            title = html.escape(source.title, quote=True)
            out.append(f'<a href="{href}" title="{title}" rel="{rel_attr}">{marker[0]}</a>')
        lead = run.group(0)[0] if run.group(0)[0] in " \t" and out else ""
        return lead + "".join(out)

    pieces = _TAG_OR_TEXT.split(sanitized_html)
    inside_link = 0
    for index, piece in enumerate(pieces):
        if piece.startswith("<"):
            lowered = piece[:3].lower()
            if lowered.startswith("<a") and (len(piece) < 3 or not piece[2].isalnum()):
                inside_link += 1
            elif lowered == "</a":
                inside_link = max(0, inside_link - 1)
        elif "[" in piece:
            pieces[index] = (
                strip_citation_markers(piece, by_number.values())
                if inside_link
                else _MARKER_RUN.sub(replace_run, piece)
            )
    return "".join(pieces)
