"""The words around a mention: titles, function words, sentence starts and longer names."""

from __future__ import annotations

import re

from newsworker.stages.enrich.aliases import KIND_ACRONYM, AliasEntry, Candidate

# Words that introduce a name without being part of it.
TITLE_WORDS = frozenset(
    """president minister premier chancellor king queen prince princess emperor empress pope
    mr mrs ms miss mx dr sir dame lord lady senator sen rep representative congressman
    congresswoman governor gov mayor general gen admiral colonel col captain capt lieutenant
    sergeant secretary chairman chairwoman chair leader ceo founder judge justice speaker
    ambassador envoy commissioner director chief vice deputy former late prof professor rev
    reverend sheikh crown elect coach ayatollah cardinal bishop archbishop chancellor state
    ceo cfo coo chairperson spokesperson""".split()  # noqa: SIM905
)
# Capitalised words that open sentences and clauses without being part of a name.
FUNCTION_WORDS = frozenset(
    """the a an in on at for by with from to and but or nor of as when after before while since
    if then so yet this that these those its his her their our my your both all new meanwhile
    yesterday today tonight also why how what where who whom whose which under over about
    between against during without within despite though although because until unlike like
    according says said unless once every each some many most several no not there here it
    he she they we i you""".split()  # noqa: SIM905
)
# Capitalised words that follow a name without extending it ("met Xi Jinping Monday").
CALENDAR_WORDS = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december""".split()  # noqa: SIM905
)
# Words after a bare capitalised name that show it is acting as a name ("Target said").
NAME_EVIDENCE_WORDS = frozenset(
    """said says say told tells added adds announced announces reported reports plans planned
    will would could can may might has had have is was called calls urged urges warned warns
    expects expected confirmed confirms denied denies launched launches agreed agrees declined
    declines posted posts raised raises cut cuts rose fell shares stock spokesperson spokesman
    spokeswoman chief executive executives boss chairman founder itself himself herself
    wrote writes argued argues insisted insists vowed vows""".split()  # noqa: SIM905
)
_WORD_AFTER = re.compile(r"\s+([^\W\d_][\w-]*)")
_WORD_BEFORE = re.compile(r"([^\W\d_][\w.]*)[ \-]$")
_POSSESSIVE_AFTER = re.compile(r"['’]s?\b")
_SENTENCE_END = frozenset('.!?:;\n\r"“”')


def is_sentence_initial(text: str, start: int) -> bool:
    """True when only spaces and opening quotes separate start from a sentence boundary."""
    index = start - 1
    while index >= 0 and (text[index] in " \t'‘\"“(" and text[index] not in "\n"):
        index -= 1
    return index < 0 or text[index] in _SENTENCE_END


def word_after(text: str, end: int) -> str | None:
    """The word right after end, separated only by spaces or one hyphen, or None."""
    if end < len(text) and text[end] == "-":
        match = re.match(r"([^\W\d_][\w]*)", text[end + 1 : end + 40])
        return match.group(1) if match else None
    match = _WORD_AFTER.match(text, end, min(len(text), end + 40))
    if match is None or "\n" in text[end : match.start(1)]:
        return None
    return match.group(1)


def word_before(text: str, start: int) -> str | None:
    """The word right before start, separated only by one space or hyphen, or None."""
    match = _WORD_BEFORE.search(text[max(0, start - 40) : start])
    return match.group(1) if match else None


def is_headline_caps(text: str, start: int, end: int) -> bool:
    """True for an all-caps span among all-caps words: a headline, not an acronym."""
    span = text[start:end]
    if not span.isupper():
        return False
    neighbours = (word_before(text, start), word_after(text, end))
    return any(w is not None and len(w) > 1 and w.isupper() for w in neighbours)


def inside_longer_name(
    text: str, start: int, end: int, entries: tuple[AliasEntry, ...] = ()
) -> bool:
    """True when the span is only the head or tail of a longer capitalised name ("Adams Hall").

    Acronyms are never inside a longer name: entries are the aliases that fit the span, if any
    of them may be one.
    """
    # Fast exits: most mentions sit between a lower-case word or punctuation on both sides.
    next_char = text[end + 1 : end + 2] if text[end : end + 1] in (" ", "-") else ""
    if not next_char.isupper():
        if start < 2 or text[start - 1] not in " -" or not text[start - 2].isalpha():
            return False
        word_start = text.rfind(" ", max(0, start - 40), start - 1) + 1
        if text[word_start].islower() and "\n" not in text[word_start:start]:
            return False  # "met Kari Moto": the word before is lower case
    if entries and all(entry.kind == KIND_ACRONYM for entry in entries):
        return False
    if is_headline_caps(text, start, end):
        return False
    if next_char.isupper():
        after = word_after(text, end)
        return after is None or after.lower() not in CALENDAR_WORDS
    before = word_before(text, start)
    if before is None or not before[0].isupper():
        return False
    bare = before.rstrip(".").lower()
    if bare in TITLE_WORDS or bare in FUNCTION_WORDS:
        return False
    return not before.isupper() or len(before) < 2


def has_name_evidence(text: str, candidate: Candidate) -> bool:
    """A bare capitalised word acts as a name: a possessive or a verb of saying follows it."""
    if _POSSESSIVE_AFTER.match(text, candidate.end):
        return True
    after = word_after(text, candidate.end)
    return after is not None and after.lower() in NAME_EVIDENCE_WORDS


def title_before(text: str, start: int) -> bool:
    """True when one of the three words before start is a title ("President", "Dr")."""
    window = re.findall(r"[^\W\d_]+", text[max(0, start - 40) : start])[-3:]
    return any(word.lower() in TITLE_WORDS for word in window)
