"""The Wikidata import's revision watermark: the highest `lastrevid` a completed import saw."""

from __future__ import annotations

from sqlmodel import Session

from newsworker.storage.models import StoreState

WATERMARK_KEY = "wikidata_lastrevid"


def revision_watermark(*, session: Session) -> int | None:
    """The watermark of the last completed import, or None."""
    state = session.get(StoreState, WATERMARK_KEY)
    return int(state.value) if state is not None and state.value.isdigit() else None


def save_revision_watermark(*, session: Session, revision: int) -> None:
    """Raise the watermark to revision (never lower it) and commit."""
    state = session.get(StoreState, WATERMARK_KEY)
    if state is None:
        session.add(StoreState(key=WATERMARK_KEY, value=str(revision)))
    elif not state.value.isdigit() or int(state.value) < revision:
        state.value = str(revision)
        session.add(state)
    session.commit()
