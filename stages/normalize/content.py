"""Sanitize entry HTML with an allowlist and derive the plain text enrichment indexes."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from typing import Any

import nh3

ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS - {"area", "map"})
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Removed together with their content, not just unwrapped.
CLEAN_CONTENT_TAGS = frozenset({"script", "style", "noscript", "template", "textarea", "title"})

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "caption",
        "figure",
        "figcaption",
        "article",
        "aside",
        "header",
        "footer",
        "nav",
        "hr",
        "details",
        "summary",
        "hgroup",
        "center",
    }
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)?[^>]*>")
# Markup that was escaped in the source (double-escaped feeds) shows up as text: drop it.
_TAG_LIKE_TEXT = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")
_ACTIVE_TEXT_OPENER = re.compile(r"<(?=\s*/?\s*(?:script|iframe|object|embed|style)\b)", re.I)
# Terminal escape sequences (CSI, OSC and two-byte ESC ones): removed whole, parameters too.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
# C0/C1 controls except tab and newline, lone surrogates and non-characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@lru_cache(maxsize=512)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    """One prebuilt sanitizer per base URL: building it costs more than cleaning a page."""
    url_relative: Any = "deny"
    if base_url and base_url.lower().startswith(("http://", "https://")):
        url_relative = ("rewrite_with_base", base_url)
    options: dict[str, Any] = {
        "tags": set(ALLOWED_TAGS),
        "clean_content_tags": set(CLEAN_CONTENT_TAGS),
        "url_schemes": set(ALLOWED_URL_SCHEMES),
        "link_rel": LINK_REL,
    }
    try:
        return nh3.Cleaner(url_relative=url_relative, **options)
    except ValueError:
        # A base the URL crate refuses: drop relative URLs rather than keep them unresolved.
        return nh3.Cleaner(url_relative="deny", **options)


def sanitize_html(fragment: str, base_url: str | None) -> str:
    """Return fragment cleaned with the allowlist, links and images made absolute."""
    if not fragment:
        return ""
    return _cleaner(base_url).clean(fragment)


def clean_plain_text(value: str) -> str:
    """Strip control characters, normalize to NFC and collapse whitespace, keeping paragraphs."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    # Printable apart from newlines and tabs means nothing for the (slower) control pattern.
    if not value.replace("\n", " ").replace("\t", " ").isprintable():
        if "\x1b" in value or "\x9b" in value:
            value = _ESCAPE_SEQUENCE.sub("", value)
        value = _CONTROL.sub("", value)
    if not value.isascii():
        value = value.replace("\u2028", "\n").replace("\u2029", "\n\n")
        if not unicodedata.is_normalized("NFC", value):
            value = unicodedata.normalize("NFC", value)
    parts: list[str] = []
    blank = False
    for raw_line in value.split("\n"):
        line = _single_spaced(raw_line)
        if not line:
            blank = True
            continue
        if parts:
            parts.append("\n\n" if blank else "\n")
        parts.append(line)
        blank = False
    return "".join(parts)


def _single_spaced(line: str) -> str:
    """The line's words joined by single spaces (unchanged lines are returned as they are).

    For a line of clean_plain_text: control characters are gone, so in ASCII only spaces and
    tabs can be whitespace.
    """
    if (
        line.isascii()
        and "  " not in line
        and "\t" not in line
        and line[:1] != " "
        and line[-1:] != " "
    ):
        return line
    return " ".join(line.split())


def defuse_text(value: str) -> str:
    """Drop markup that appears as literal text (escaped in the source); words stay as written."""
    if "<" in value:
        value = _TAG_LIKE_TEXT.sub(" ", value)
        value = _ACTIVE_TEXT_OPENER.sub("\u2039", value)
    return value


def _tag_to_break(tag: re.Match[str]) -> str:
    name = (tag.group(2) or "").lower()
    if name in _BLOCK_TAGS:
        return "\n\n"
    if name == "br":
        return "\n"
    if name in ("td", "th"):
        return " "
    return ""


def html_to_text(sanitized: str) -> str:
    """Return the plain text of sanitized HTML: blocks become paragraphs, entities decoded once."""
    if not sanitized:
        return ""
    # Source newlines are plain whitespace in HTML; only <br> and blocks break lines.
    marked = sanitized.replace("\r", " ").replace("\n", " ")
    if "<" in marked:
        marked = _TAG.sub(_tag_to_break, marked)
    text = html.unescape(marked) if "&" in marked else marked
    return clean_plain_text(defuse_text(text))
