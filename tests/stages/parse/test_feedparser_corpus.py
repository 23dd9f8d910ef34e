"""Every feedparser test file goes through parse and normalize; sanitize files stay inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsworker.stages.errors import ParseError
from newsworker.stages.normalize import NormalizePolicy, normalize_entry
from newsworker.stages.parse import parse_feed

FEED_URL = "http://example.com/feeds/corpus.xml"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
ACTIVE_CONTENT = re.compile(
    r"<script|javascript:|vbscript:|expression\(|<iframe|<object|<embed", re.IGNORECASE
)
EVENT_HANDLER = re.compile(r"<[^>]*\son\w+\s*=", re.IGNORECASE)


def _corpus(shared_dir: Path) -> Path:
    root = shared_dir / "corpus" / "feedparser-tests"
    if not root.is_dir():
        pytest.skip(f"{root} is missing")
    return root


def _normalize_all(body: bytes) -> list[tuple[str, str]]:
    """Return (content_html, text) of every usable entry; ParseError is allowed."""
    try:
        parsed = parse_feed(body, url=FEED_URL, content_type="application/xml")
    except ParseError:
        return []
    out = []
    for entry in parsed.entries:
        try:
            article = normalize_entry(
                entry,
                feed_url=FEED_URL,
                feed_language=parsed.language,
                discovered_at=NOW,
                policy=NormalizePolicy(),
            )
        except ParseError:
            continue
        out.append((article.content_html, article.text))
        out.append((article.summary, article.title))
    return out


def test_every_corpus_file_parses_and_normalizes_without_crashing(shared_dir: Path) -> None:
    root = _corpus(shared_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) > 2000
    articles = 0
    for path in files:
        try:
            articles += len(_normalize_all(path.read_bytes()))
        except Exception as e:
            pytest.fail(f"{path.relative_to(root)}: unhandled {type(e).__name__}: {e}")
    assert articles > 1000


def test_sanitize_corpus_leaves_no_active_content(shared_dir: Path) -> None:
    sanitize_dirs = [p for p in _corpus(shared_dir).rglob("sanitize") if p.is_dir()]
    assert sanitize_dirs, "no sanitize folder in the corpus"
    checked = 0
    for folder in sanitize_dirs:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            for html_field, text_field in _normalize_all(path.read_bytes()):
                for value in (html_field, text_field):
                    assert not ACTIVE_CONTENT.search(value), f"{path.name}: {value[:300]!r}"
                    assert not EVENT_HANDLER.search(value), f"{path.name}: {value[:300]!r}"
                checked += 1
    assert checked > 300
