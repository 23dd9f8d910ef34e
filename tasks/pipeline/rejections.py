"""Rejected entries: why each was unusable (a short reason code), recorded and counted by reason.

A feed can reject hundreds of entries a poll; counted only as "feed errors" they vanish from the
run summary and the metrics. Each gets a reason code, bounded to a few values so that it can
label a metric, kept on its feed error row so `feeds errors` can count them per feed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from newsworker.storage import feeds as feed_store
from newsworker.tasks import metrics
from newsworker.tasks.pipeline.context import PollOutcome

# What the normalize stage says about an unusable entry -> its reason code. Checked in order;
# an entry rejected for a reason not listed here counts as "unusable".
_REASONS = (("no title, no link and no content", "empty"),)
OTHER_REASON = "unusable"


def rejection_reason(message: str) -> str:
    """The reason code of a rejected entry's message."""
    lowered = message.lower()
    return next((code for text, code in _REASONS if text in lowered), OTHER_REASON)


def record_rejected_entries(
    session: Session, feed_id: int, messages: Iterable[str], outcome: PollOutcome
) -> None:
    """Record each rejected entry as a feed error with its reason, and count it by reason."""
    for message in messages:
        reason = rejection_reason(message)
        outcome.rejected += 1
        outcome.rejected_reasons[reason] = outcome.rejected_reasons.get(reason, 0) + 1
        metrics.ENTRIES.labels(outcome="rejected").inc()
        metrics.ENTRIES_REJECTED.labels(reason=reason).inc()
        feed_store.record_feed_error(
            session=session,
            feed_id=feed_id,
            kind=feed_store.ENTRY_REJECTED,
            message=message,
            reason=reason,
        )
