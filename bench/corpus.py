"""Deterministic synthetic RSS corpus for the parse/normalize and end-to-end benchmarks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

ENTRIES_PER_FEED = 50

_EN_WORDS = [
    "government",
    "minister",
    "said",
    "on",
    "tuesday",
    "that",
    "the",
    "new",
    "policy",
    "would",
    "reduce",
    "costs",
    "for",
    "families",
    "across",
    "the",
    "country",
    "while",
    "critics",
    "argued",
    "it",
    "failed",
    "to",
    "address",
    "rising",
    "energy",
    "prices",
    "company",
    "shares",
    "rose",
    "after",
    "quarterly",
    "earnings",
    "beat",
    "analyst",
    "expectations",
    "and",
    "the",
    "board",
    "announced",
    "a",
    "dividend",
    "council",
    "officials",
    "met",
    "residents",
    "to",
    "discuss",
    "flooding",
    "in",
    "the",
    "valley",
    "where",
    "heavy",
    "rain",
    "damaged",
    "roads",
    "bridges",
    "and",
    "homes",
    "police",
    "arrested",
    "two",
    "men",
    "following",
    "a",
    "robbery",
    "at",
    "a",
    "jewellery",
    "store",
    "in",
    "the",
    "city",
    "centre",
    "researchers",
    "published",
    "a",
    "study",
    "showing",
    "that",
    "regular",
    "exercise",
    "lowers",
    "the",
    "risk",
    "of",
    "heart",
    "disease",
    "among",
    "older",
    "adults",
    "the",
    "central",
    "bank",
    "kept",
    "interest",
    "rates",
    "unchanged",
    "citing",
    "uncertainty",
    "about",
    "inflation",
    "and",
    "wages",
    "football",
    "club",
    "signed",
    "a",
    "striker",
    "from",
    "abroad",
    "on",
    "a",
    "four",
    "year",
    "contract",
    "worth",
    "millions",
    "election",
    "campaign",
    "enters",
    "final",
    "week",
    "as",
    "candidates",
    "debate",
    "healthcare",
    "taxes",
    "and",
    "immigration",
]
_DE_WORDS = [
    "die",
    "regierung",
    "hat",
    "am",
    "dienstag",
    "beschlossen",
    "dass",
    "die",
    "neuen",
    "regeln",
    "ab",
    "januar",
    "gelten",
    "sollen",
    "während",
    "kritiker",
    "vor",
    "steigenden",
    "kosten",
    "für",
    "familien",
    "und",
    "unternehmen",
    "warnen",
    "der",
    "verband",
    "forderte",
    "mehr",
    "unterstützung",
    "für",
    "kleine",
    "betriebe",
    "in",
    "ländlichen",
    "regionen",
    "die",
    "polizei",
    "ermittelt",
    "nach",
    "einem",
    "einbruch",
    "in",
    "der",
    "innenstadt",
    "wissenschaftler",
    "zeigen",
    "in",
    "einer",
    "studie",
    "dass",
    "bewegung",
    "das",
    "risiko",
    "von",
    "herzkrankheiten",
    "senkt",
]
_FR_WORDS = [
    "le",
    "gouvernement",
    "a",
    "annoncé",
    "mardi",
    "une",
    "nouvelle",
    "réforme",
    "des",
    "retraites",
    "qui",
    "doit",
    "entrer",
    "en",
    "vigueur",
    "l'année",
    "prochaine",
    "tandis",
    "que",
    "les",
    "syndicats",
    "appellent",
    "à",
    "la",
    "grève",
    "dans",
    "plusieurs",
    "villes",
    "du",
    "pays",
    "la",
    "police",
    "a",
    "arrêté",
    "deux",
    "suspects",
    "après",
    "un",
    "vol",
    "dans",
    "le",
    "centre",
    "ville",
    "les",
    "chercheurs",
    "publient",
    "une",
    "étude",
    "sur",
    "les",
    "effets",
    "de",
    "la",
    "chaleur",
    "sur",
    "la",
    "santé",
    "des",
    "enfants",
]
_TRACKERS = (
    "utm_source=rss&utm_medium=feed&utm_campaign=daily",
    "fbclid=IwAR0abc123",
    "gclid=Cj0KCQ",
    "mc_cid=12ab&mc_eid=34cd",
)


def _sentence(rng: random.Random, words: tuple[str, ...] | list[str]) -> str:
    chosen = [rng.choice(words) for _ in range(rng.randint(10, 22))]
    chosen[0] = chosen[0].capitalize()
    return " ".join(chosen) + "."


def _content_html(rng: random.Random, words: list[str], host: str) -> str:
    """2 to 4 KB of article HTML: paragraphs, links, an image, sometimes active content."""
    target = rng.randint(2048, 4096)
    parts: list[str] = []
    size = 0
    while size < target:
        sentences = " ".join(_sentence(rng, words) for _ in range(rng.randint(2, 4)))
        roll = rng.random()
        if roll < 0.15:
            sentences += f' <a href="/related/{rng.randint(1, 99999)}">Read more</a>'
        elif roll < 0.25:
            sentences += f' <a href="https://{host}/story/{rng.randint(1, 9999)}?utm_source=x">'
            sentences += "<strong>Background</strong></a>"
        elif roll < 0.3:
            sentences += " &amp; more &#8212; analysis [1]"
        paragraph = f"<p>{sentences}</p>"
        if rng.random() < 0.08:
            paragraph += f'<img src="/img/{rng.randint(1, 9999)}.jpg" alt="photo" width="600">'
        if rng.random() < 0.03:
            paragraph += (
                '<script>track("view")</script><iframe src="https://ads.example/x"></iframe>'
            )
        if rng.random() < 0.03:
            paragraph += '<p onclick="steal()" style="color:red">Sponsored</p>'
        parts.append(paragraph)
        size += len(paragraph)
    return "\n".join(parts)


def _item(rng: random.Random, feed_no: int, item_no: int, words: list[str], host: str) -> str:
    title = _sentence(rng, words)[:-1][:120]
    path = f"/{2026}/{rng.randint(1, 12):02d}/story-{feed_no}-{item_no}"
    link = f"https://{host}{path}"
    if rng.random() < 0.35:
        link += "?" + rng.choice(_TRACKERS)
    published = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 40000))
    content = _content_html(rng, words, host)
    summary = _sentence(rng, words)
    return (
        "<item>"
        f"<title>{escape(title)}</title>"
        f"<link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{host}-{feed_no}-{item_no}</guid>'
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<dc:creator>Reporter {rng.randint(1, 300)}</dc:creator>"
        f"<category>news</category>"
        f"<description>{escape(summary)}</description>"
        f"<content:encoded><![CDATA[{content}]]></content:encoded>"
        "</item>"
    )


def generate_corpus(n_entries: int, seed: int = 1) -> list[bytes]:
    """Return RSS 2.0 feed bodies holding n_entries items in all, the same for the same seed.

    About 5% of items are syndicated copies of earlier items (same link and content under
    another feed, with different tracking parameters).
    """
    rng = random.Random(seed)
    feeds: list[bytes] = []
    previous_items: list[str] = []
    produced = 0
    feed_no = 0
    while produced < n_entries:
        feed_no += 1
        host = f"news{feed_no % 40}.example.com"
        roll = rng.random()
        words, language = (
            (list(_EN_WORDS), "en-us")
            if roll < 0.8
            else (list(_DE_WORDS), "de")
            if roll < 0.9
            else (list(_FR_WORDS), "fr")
        )
        declared = f"<language>{language}</language>" if rng.random() < 0.7 else ""
        count = min(ENTRIES_PER_FEED, n_entries - produced)
        items = []
        for item_no in range(count):
            if previous_items and rng.random() < 0.05:
                copy = rng.choice(previous_items)
                items.append(copy.replace("?utm_source=rss", "?utm_source=partner"))
            else:
                items.append(_item(rng, feed_no, item_no, words, host))
        previous_items.extend(items[:5])
        produced += count
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>Feed {feed_no}</title><link>https://{host}/</link>"
            f"<description>News from {host}</description>{declared}<ttl>15</ttl>"
            + "".join(items)
            + "</channel></rss>"
        )
        feeds.append(body.encode("utf-8"))
    return feeds
