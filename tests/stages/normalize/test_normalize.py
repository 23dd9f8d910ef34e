"""normalize_entry and its parts: URLs, HTML, text, citations, dates, language, caps, identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from newsworker.stages.enrich import render_story
from newsworker.stages.errors import ParseError
from newsworker.stages.normalize import NormalizePolicy, guids_look_unstable, normalize_entry
from newsworker.stages.normalize.content import html_to_text, sanitize_html
from newsworker.stages.normalize.language import _get_identifier, bcp47_tag, detect_language
from newsworker.stages.normalize.text_limits import cap_text
from newsworker.stages.normalize.urls import canonical_url, resolve_url
from newsworker.stages.records import Citation, RawEntry

FEED = "https://news.example.com/feeds/world.xml"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = NormalizePolicy()
ENGLISH = (
    "The central bank kept interest rates unchanged on Tuesday, citing uncertainty about "
    "inflation and wages, while officials said they would watch the data closely."
)


def raw(**fields: object) -> RawEntry:
    values: dict[str, object] = {
        "guid": "tag:news.example.com,2026:1",
        "link": "https://news.example.com/a/1",
        "title": "Rates held",
        "summary_html": None,
        "content_html": f"<p>{ENGLISH}</p>",
        "published_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        "published_raw": "Sun, 01 Mar 2026 09:00:00 GMT",
    }
    values.update(fields)
    return RawEntry(**values)  # type: ignore[arg-type]


def normalize(entry: RawEntry, **kwargs: object) -> object:
    options: dict[str, object] = {
        "feed_url": FEED,
        "feed_language": None,
        "discovered_at": NOW,
        "policy": POLICY,
    }
    options.update(kwargs)
    return normalize_entry(entry, **options)  # type: ignore[arg-type]


# --- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("HTTPS://News.Example.COM:443/a/1#comments", "https://news.example.com/a/1"),
        ("http://news.example.com:80/a", "http://news.example.com/a"),
        ("http://news.example.com:8080/a", "http://news.example.com:8080/a"),
        (
            "https://x.example/a?id=7&utm_source=rss&utm_medium=feed&fbclid=abc&page=2",
            "https://x.example/a?id=7&page=2",
        ),
        ("https://x.example/a?gclid=1&mc_cid=2&mc_eid=3&_ga=4", "https://x.example/a"),
        ("https://x.example/a?UTM_Campaign=x&q=news", "https://x.example/a?q=news"),
        ("https://x.example", "https://x.example/"),
        ("https://user:pw@x.example/a", "https://x.example/a"),
    ],
)
def test_canonical_url(link: str, expected: str) -> None:
    assert canonical_url(link, POLICY.tracking_params) == expected


def test_tracking_list_is_configurable() -> None:
    assert canonical_url("https://x.example/a?ref=rss&id=1", ("ref",)) == "https://x.example/a?id=1"
    assert canonical_url("https://x.example/a?utm_x=1", ()) == "https://x.example/a?utm_x=1"


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVa\tScRiPt:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
    ],
)
def test_unsafe_links_are_dropped_not_fatal(link: str) -> None:
    article = normalize(raw(link=link))
    assert article.url is None  # type: ignore[attr-defined]
    assert article.canonical_url is None  # type: ignore[attr-defined]


def test_link_in_another_harmless_scheme_is_kept_without_canonical_form() -> None:
    article = normalize(raw(link="ftp://x.example/a"))
    assert article.url == "ftp://x.example/a"  # type: ignore[attr-defined]
    assert article.canonical_url is None  # type: ignore[attr-defined]


def test_relative_link_resolves_against_entry_base_then_feed() -> None:
    assert resolve_url("../b/2", "https://base.example/x/y/", FEED) == "https://base.example/x/b/2"
    article = normalize(raw(link="/a/2?utm_source=x", base_url=None))
    assert article.url == "https://news.example.com/a/2?utm_source=x"  # type: ignore[attr-defined]
    assert article.canonical_url == "https://news.example.com/a/2"  # type: ignore[attr-defined]


# --- HTML and text ------------------------------------------------------------------------


def test_sanitize_removes_active_content_and_makes_urls_absolute() -> None:
    dirty = (
        '<p onclick="evil()" style="x:expression(alert(1))">Hi <a href="/x">link</a>'
        '<img src="img.png" onerror="evil()"><a href="javascript:alert(1)">js</a></p>'
        "<script>alert(1)</script><style>p{}</style><iframe src=//e></iframe>"
        '<object data="x"></object><embed src="x"><svg onload=alert(1)></svg>'
        '<a href="vbscript:msgbox">vb</a>'
    )
    clean = sanitize_html(dirty, "https://news.example.com/a/")
    lowered = clean.lower()
    for bad in (
        "<script",
        "<style",
        "<iframe",
        "<object",
        "<embed",
        "onclick",
        "onerror",
        "onload",
        "javascript:",
        "vbscript:",
        "expression(",
        "alert",
    ):
        assert bad not in lowered, bad
    assert 'href="https://news.example.com/x"' in clean
    assert 'src="https://news.example.com/a/img.png"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


def test_text_has_paragraph_breaks_and_collapsed_whitespace() -> None:
    html = "<h2>Title</h2><p>One   two\n three</p><ul><li>a</li><li>b</li></ul><p>x<br>y</p>"
    assert html_to_text(sanitize_html(html, None)) == "Title\n\nOne two three\n\na\n\nb\n\nx\ny"


def test_entities_are_decoded_exactly_once() -> None:
    assert html_to_text(sanitize_html("<p>AT&amp;T &amp;amp; &lt;b&gt; &eacute;</p>", None)) == (
        "AT&T &amp; é"
    )


def test_escaped_markup_in_text_is_not_active() -> None:
    text = html_to_text(
        sanitize_html("&lt;script&gt;alert(1)&lt;/script&gt; see javascript:void(0)", None)
    )
    assert "<script" not in text.lower()
    assert text.endswith("see javascript:void(0)")  # words of a text field stay as written


def test_control_characters_stripped_and_nfc() -> None:
    text = html_to_text("Cafe\u0301 \x00\x07bar\x1b \ud800 baz\u200b")
    assert text == "Café bar baz\u200b"


def test_summary_from_entry_summary_or_first_paragraph() -> None:
    article = normalize(raw(summary_html="<p>Short <b>summary</b></p>"))
    assert article.summary == "Short summary"  # type: ignore[attr-defined]
    article = normalize(raw(content_html="<p>First para.</p><p>Second.</p>"))
    assert article.summary == "First para."  # type: ignore[attr-defined]


def test_description_only_entry_uses_summary_as_content() -> None:
    article = normalize(raw(content_html=None, summary_html="<p>Only <i>this</i></p>"))
    assert article.text == "Only this"  # type: ignore[attr-defined]


# --- Citation markers ---------------------------------------------------------------------


def test_citation_markers_without_sources_are_removed() -> None:
    article = normalize(raw(content_html="<p>Rates rose [1] sharply.[3][5] Then [12] fell.</p>"))
    assert article.text == "Rates rose sharply. Then fell."  # type: ignore[attr-defined]
    assert "[1]" not in article.content_html  # type: ignore[attr-defined]


def test_citation_markers_with_sources_are_kept_and_linked() -> None:
    body = (
        "<p>Rates rose.[1][2]</p><h2>Sources</h2><ol>"
        '<li><a href="https://cb.example/r">Central bank release</a></li></ol>'
    )
    sources = (Citation(1, "Central bank release", "https://cb.example/r"),)
    article = normalize(raw(content_html=body))
    assert article.text.startswith("Rates rose.[1]\n")  # type: ignore[attr-defined]
    assert '<a href="https://cb.example/r"' in article.content_html  # type: ignore[attr-defined]
    assert "[2]" not in article.content_html  # type: ignore[attr-defined]
    assert article.sources == sources  # type: ignore[attr-defined]


# --- Dates --------------------------------------------------------------------------------


def test_missing_date_uses_discovery_time_and_is_flagged() -> None:
    article = normalize(raw(published_at=None, published_raw=None))
    assert article.published_at == NOW  # type: ignore[attr-defined]
    assert "published_inferred" in article.flags  # type: ignore[attr-defined]


def test_future_date_is_clamped_and_flagged() -> None:
    article = normalize(raw(published_at=NOW + timedelta(days=3)))
    assert article.published_at == NOW  # type: ignore[attr-defined]
    assert "published_clamped" in article.flags  # type: ignore[attr-defined]
    within = normalize(raw(published_at=NOW + timedelta(hours=2)))
    assert within.published_at == NOW + timedelta(hours=2)  # type: ignore[attr-defined]
    wide = NormalizePolicy(future_date_tolerance=timedelta(days=7))
    kept = normalize(raw(published_at=NOW + timedelta(days=3)), policy=wide)
    assert kept.published_at == NOW + timedelta(days=3)  # type: ignore[attr-defined]


def test_missing_zone_is_flagged() -> None:
    article = normalize(raw(published_raw="Sun, 01 Mar 2026 09:00:00"))
    assert "published_zone_assumed" in article.flags  # type: ignore[attr-defined]
    assert "published_zone_assumed" not in normalize(raw()).flags  # type: ignore[attr-defined]


def test_dates_are_utc() -> None:
    paris = datetime(2026, 3, 1, 10, 0, tzinfo=UTC).astimezone()
    article = normalize(raw(published_at=paris, updated_at=paris))
    assert article.published_at.utcoffset() == timedelta(0)  # type: ignore[attr-defined]
    assert article.updated_at.tzinfo == UTC  # type: ignore[attr-defined]


# --- Language -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("en", "en"),
        ("EN-us", "en-US"),
        ("en_GB", "en-GB"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("English", "en"),
        ("und", None),
        ("*", None),
        ("", None),
    ],
)
def test_bcp47(declared: str, expected: str | None) -> None:
    assert bcp47_tag(declared) == expected


def test_language_entry_then_feed_then_detected() -> None:
    entry_lang = normalize(raw(language="fr-FR"), feed_language="de")
    assert entry_lang.language == "fr-FR"  # type: ignore[attr-defined]
    assert normalize(raw(), feed_language="en-gb").language == "en-GB"  # type: ignore[attr-defined]
    assert normalize(raw()).language == "en"  # type: ignore[attr-defined]
    german = "<p>Die Regierung hat am Dienstag beschlossen, dass die neuen Regeln gelten.</p>"
    assert normalize(raw(content_html=german)).language == "de"  # type: ignore[attr-defined]


def test_language_is_none_when_too_short() -> None:
    assert detect_language("OK") is None


# --- Limits -------------------------------------------------------------------------------


def test_caps_never_cut_a_word_or_character() -> None:
    text, cut = cap_text("alpha beta gamma delta", 13)
    assert (text, cut) == ("alpha beta", True)
    assert cap_text("short", 10) == ("short", False)
    emoji, cut = cap_text("😀" * 20, 5)
    assert emoji == "😀" * 5 and cut
    assert emoji.encode("utf-8").decode("utf-8") == emoji
    combined, _ = cap_text("e\u0301" * 10, 5)
    assert not combined.endswith("e")


def test_title_and_text_caps_are_flagged() -> None:
    policy = NormalizePolicy(max_title_chars=10, max_text_chars=40)
    article = normalize(raw(title="A rather long headline here"), policy=policy)
    assert article.title == "A rather"  # type: ignore[attr-defined]
    assert len(article.text) <= 40  # type: ignore[attr-defined]
    assert article.text and ENGLISH.startswith(article.text)  # type: ignore[attr-defined]
    assert {"title_truncated", "text_truncated"} <= set(article.flags)  # type: ignore[attr-defined]


# --- Identity -----------------------------------------------------------------------------


def test_entry_key_prefers_guid_then_link_then_hash() -> None:
    assert normalize(raw()).entry_key == "guid:tag:news.example.com,2026:1"  # type: ignore[attr-defined]
    no_guid = normalize(raw(guid=None, link="https://news.example.com/a/1?utm_source=x"))
    assert no_guid.entry_key == "url:https://news.example.com/a/1"  # type: ignore[attr-defined]
    neither = normalize(raw(guid=None, link=None))
    assert neither.entry_key.startswith("hash:")  # type: ignore[attr-defined]
    assert neither.entry_key == normalize(raw(guid=None, link=None)).entry_key  # type: ignore[attr-defined]


def test_unstable_guid_falls_back_to_link_and_keeps_raw_guid() -> None:
    article = normalize(raw(guid="random-123"), guid_unstable=True)
    assert article.entry_key == "url:https://news.example.com/a/1"  # type: ignore[attr-defined]
    assert article.guid == "random-123"  # type: ignore[attr-defined]


def test_content_hash_changes_with_content_only() -> None:
    a = normalize(raw())
    b = normalize(raw(published_at=NOW - timedelta(hours=1)))
    c = normalize(raw(content_html="<p>Changed body</p>"))
    assert a.content_hash == b.content_hash != c.content_hash  # type: ignore[attr-defined]
    assert a.entry_key == c.entry_key  # type: ignore[attr-defined]


def test_guids_look_unstable() -> None:
    before = {"https://x/1": "a1", "https://x/2": "a2", "https://x/3": "a3"}
    rotated = {"https://x/1": "b1", "https://x/2": "b2", "https://x/3": "b3"}
    grown = {"https://x/0": "a0", **before}
    assert guids_look_unstable(before, rotated)
    assert not guids_look_unstable(before, grown)
    assert not guids_look_unstable(before, {"https://x/9": "z"})
    assert not guids_look_unstable({"https://x/1": "a"}, {"https://x/1": "b"})


def test_unusable_entry_is_a_parse_error_naming_feed_and_field() -> None:
    with pytest.raises(ParseError, match=r"world\.xml") as info:
        normalize(raw(title=None, link=None, content_html=None, summary_html=None))
    assert "title" in str(info.value)


def test_missing_title_is_inferred_from_text() -> None:
    article = normalize(raw(title=None))
    assert article.title.startswith("The central bank")  # type: ignore[attr-defined]
    assert "title_inferred" in article.flags  # type: ignore[attr-defined]


def test_plain_title_with_literal_markup_is_defused() -> None:
    article = normalize(raw(title="How <script>alert(1)</script> works, javascript:void"))
    assert "<script" not in article.title.lower()  # type: ignore[attr-defined]
    assert article.title.endswith("works, javascript:void")  # type: ignore[attr-defined]


def test_sanitize_with_an_unusable_base_drops_relative_urls() -> None:
    assert sanitize_html('<a href="/x">x</a>', "http://[::1") == (
        '<a rel="noopener noreferrer nofollow">x</a>'
    )


@pytest.mark.parametrize(
    "text",
    [
        "The government said on Tuesday that talks would continue as officials met.",
        "Der Bundestag hat am Dienstag beschlossen, die Steuern zu senken und zu investieren.",
        "Le gouvernement a annoncé mardi une nouvelle réforme des retraites très contestée.",
        "El gobierno anunció el martes una nueva reforma de las pensiones.",
        "政府は火曜日に新しい年金改革を発表した。記者会見で首相が説明した。",
        "Правительство объявило во вторник о новой пенсионной реформе.",
        "THE GOVERNMENT SAID ON TUESDAY THAT TALKS WOULD CONTINUE",
        "12345 67890 !!! ???",
    ],
)
def test_language_classifier_agrees_with_py3langid(text: str) -> None:
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True).classify(text)
    language, confidence = _get_identifier().classify(text)
    if reference[1] >= 0.2:
        assert language == reference[0]
        assert confidence == pytest.approx(reference[1], abs=1e-4)
    else:
        assert confidence < 0.2


def test_huge_content_html_is_cut_before_sanitizing_without_cutting_a_word() -> None:
    word = "<p>" + "ongoing APEC Putrajaya summit " * 50 + "</p>"
    article = normalize(raw(content_html=word * 2_000))
    policy = NormalizePolicy()
    assert len(article.content_html) <= policy.max_html_chars + 100
    assert "text_truncated" in article.flags
    assert article.text.split()[-1] in {"ongoing", "APEC", "Putrajaya", "summit"}
    assert article.content_html.endswith("</p>")


def test_an_article_reference_list_keeps_and_links_its_markers() -> None:
    body = (
        "<p>Rates rose [1] and fell again.[2][7]</p><h2>References</h2><ol>"
        '<li><a href="https://stats.example.org/rates">Rate statistics 2026</a></li>'
        '<li>Interview with the minister, <a href="https://news.example.org/i">News</a></li>'
        "</ol>"
    )
    article = normalize(raw(content_html=body))
    numbers = [(s.number, s.url) for s in article.sources]  # type: ignore[attr-defined]
    assert numbers == [(1, "https://stats.example.org/rates"), (2, "https://news.example.org/i")]
    assert article.sources[0].title == "Rate statistics 2026"  # type: ignore[attr-defined]
    html = article.content_html  # type: ignore[attr-defined]
    assert 'href="https://stats.example.org/rates"' in html and ">[1]</a>" in html
    assert "[7]" not in html
    assert article.text.startswith("Rates rose [1] and fell again.[2]")  # type: ignore[attr-defined]


def test_a_list_that_is_not_a_source_list_leaves_markers_unsourced() -> None:
    body = "<p>Three steps [1] follow.</p><ol><li>Mix</li><li>Bake</li></ol>"
    article = normalize(raw(content_html=body))
    assert article.sources == ()  # type: ignore[attr-defined]
    assert "[1]" not in article.text  # type: ignore[attr-defined]


def test_the_rendered_story_lists_the_article_sources_its_markers_point_to() -> None:
    body = (
        "<p>Rates rose [1].</p><h2>Sources</h2><ol>"
        '<li><a href="https://stats.example.org/rates">Rate statistics</a></li></ol>'
    )
    article = normalize(raw(content_html=body))
    rendered = render_story(
        title="T",
        text=article.text,  # type: ignore[attr-defined]
        entities=(),
        sources=article.sources,  # type: ignore[attr-defined]
    )
    assert "Sources: [1] Rate statistics — https://stats.example.org/rates" in rendered
