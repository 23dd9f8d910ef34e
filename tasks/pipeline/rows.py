"""Article records to stored article rows and back."""

from __future__ import annotations

from typing import Any

from newsworker.stages.records import Article, Citation
from newsworker.storage.models import ArticleRecord


def article_of(row: ArticleRecord) -> Article:
    """The Article a stored row holds."""
    return Article(
        entry_key=row.entry_key,
        title=row.title,
        url=row.url,
        canonical_url=row.canonical_url,
        summary=row.summary,
        text=row.text,
        content_html=row.content_html,
        language=row.language,
        published_at=row.published_at,
        updated_at=row.updated_at,
        discovered_at=row.discovered_at,
        content_hash=row.content_hash,
        author=row.author,
        authors=tuple(row.authors) if row.authors is not None else _first_author(row.author),
        flags=tuple(row.flags),
        sources=tuple(
            Citation(number=int(s["number"]), title=str(s["title"]), url=str(s["url"]))
            for s in row.sources
        ),
        guid=row.guid,
    )


def _first_author(author: str | None) -> tuple[str, ...]:
    # Rows stored before the authors column kept the main author alone.
    return (author,) if author else ()


def article_values(article: Article) -> dict[str, Any]:
    """The article's column values, for a bulk INSERT or an update of its row."""
    return {
        "entry_key": article.entry_key,
        "guid": article.guid,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "summary": article.summary,
        "text": article.text,
        "content_html": article.content_html,
        "language": article.language,
        "author": article.author,
        "authors": list(article.authors),
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "discovered_at": article.discovered_at,
        "content_hash": article.content_hash,
        "flags": list(article.flags),
        "sources": [{"number": s.number, "title": s.title, "url": s.url} for s in article.sources],
    }


def copy_article(row: ArticleRecord, article: Article) -> None:
    """Overwrite a stored row with the article's content; its first discovery time stays."""
    discovered_at = row.discovered_at
    for name, value in article_values(article).items():
        setattr(row, name, value)
    row.discovered_at = discovered_at or article.discovered_at
