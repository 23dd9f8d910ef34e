"""Length caps that never cut a word or a character."""

from __future__ import annotations

import unicodedata

# Look this far back for a word boundary before falling back to a character cut.
_BOUNDARY_WINDOW = 200


def cap_text(value: str, max_chars: int) -> tuple[str, bool]:
    """Return value cut to at most max_chars at a word boundary, and whether it was cut."""
    if len(value) <= max_chars:
        return value, False
    cut = value[: max_chars + 1]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary >= max(1, max_chars - _BOUNDARY_WINDOW):
        cut = cut[:boundary]
    else:
        cut = cut[:max_chars]
        # Never split a base character from its combining marks.
        while cut and unicodedata.combining(value[len(cut)]):
            cut = cut[:-1]
    return cut.rstrip(), True


def cap_html(fragment: str, max_chars: int) -> tuple[str, bool]:
    """Return an HTML fragment cut before max_chars at a tag or space, and whether it was cut.

    Runs before sanitizing, so a 20 MB content field costs a bounded amount of work and memory.
    Cutting at whitespace or just after a tag never splits a word; the sanitizer then closes
    whatever the cut left open and drops a tag cut in half.
    """
    if len(fragment) <= max_chars:
        return fragment, False
    cut = fragment[:max_chars]
    boundary = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind(">") + 1)
    if boundary > 0:
        cut = cut[:boundary]
    return cut, True
