"""Bound how deep entry HTML nests before the sanitizer sees it.

The HTML5 tree builder checks element scopes by walking the stack of open elements, so block
elements nested tens of thousands deep take it seconds (quadratic). Tags past MAX_HTML_DEPTH
are dropped, their text kept: no real article nests that deep.
"""

from __future__ import annotations

import re

MAX_HTML_DEPTH = 256
# Elements that never hold others, and elements the parser closes when a sibling opens: they
# cannot build a deep stack, so they neither count nor are ever dropped.
_NOT_NESTING = frozenset(
    {"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img"}
    | {"input", "keygen", "link", "meta", "param", "source", "track", "wbr"}
    | {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "rb", "rp", "rt"}
    | {"rtc", "thead", "tbody", "tfoot", "colgroup", "caption"}
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>")


class _DepthLimiter:
    """Walks the tags of one fragment, keeping a stack of the open ones."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.open: list[str] = []
        self.dropped: dict[str, int] = {}

    def __call__(self, tag: re.Match[str]) -> str:
        name = tag.group(2).lower()
        if name in _NOT_NESTING:
            return tag.group(0)
        if tag.group(1):
            if self.dropped.get(name):
                self.dropped[name] -= 1
                return ""
            if name in self.open:  # at most max_depth long
                while self.open.pop() != name:
                    pass
            return tag.group(0)
        if len(self.open) >= self.max_depth:
            self.dropped[name] = self.dropped.get(name, 0) + 1
            return ""
        self.open.append(name)
        return tag.group(0)


def flatten_deep_html(fragment: str, max_depth: int = MAX_HTML_DEPTH) -> tuple[str, bool]:
    """Return fragment with tags nested past max_depth removed, and whether any were."""
    if fragment.count("<") <= max_depth:
        return fragment, False  # too few tags to nest that deep
    limiter = _DepthLimiter(max_depth)
    flattened = _TAG.sub(limiter, fragment)
    return flattened, len(flattened) != len(fragment)
