"""Numbered citation markers ([1], [3][5]): drop the dangling ones, link the sourced ones."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from tasks.records import Citation

_MARKER_RUN = re.compile(r"[ \t]?(?:\[\d{1,3}\])+")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")


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
