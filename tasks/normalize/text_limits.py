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
