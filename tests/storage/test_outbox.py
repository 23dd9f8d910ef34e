"""The outbox on SQLite and PostgreSQL: enqueue, claim, marks, dead letters, stored stories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from newsworker.storage import outbox
from newsworker.storage.dead_letters import dead_letters, requeue_dead
from newsworker.storage.deliveries import (
    DeliveryUpdate,
    claim_due,
    mark_sent,
    oldest_pending_age,
    pending_count,
    record_attempts,
)
from newsworker.storage.models import (
    ArticleRecord,
    Delivery,
    DeliveryStatus,
    Feed,
    OutboxEvent,
    Story,
)
from newsworker.storage.outbox import enqueue_story_batch, iter_events_since
from newsworker.storage.story_payloads import get_story, iter_stories_since
from tests.support.schema import example_story

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def enqueue_one(session: Session, payload: dict[str, Any], sinks: list[str]) -> int:
    """Enqueue one story event; return its id."""
    return enqueue_story_batch(session=session, payloads=[payload], sinks=sinks).ids[
        payload["idempotency_key"]
    ]


def enqueue_new(session: Session, payloads: list[dict[str, Any]], sinks: list[str]) -> int:
    """Enqueue story events; return how many were new."""
    return enqueue_story_batch(session=session, payloads=payloads, sinks=sinks).new


def test_enqueue_adds_one_delivery_per_sink_and_is_idempotent(session: Session) -> None:
    payload = example_story(n=1)
    event_id = enqueue_one(session, payload, ["redis", "jsonl", "redis"])
    session.commit()
    assert enqueue_one(session, example_story(n=1), ["redis"]) == event_id
    session.commit()
    event = session.get(OutboxEvent, event_id)
    assert event is not None
    assert event.idempotency_key == f"{payload['story_id']}:1"
    assert (event.story_id, event.revision, event.event) == (payload["story_id"], 1, "created")
    sinks = sorted(d.sink for d in session.exec(select(Delivery)).all())
    assert sinks == ["jsonl", "redis"]
    assert pending_count(session=session) == 2
    assert pending_count(session=session, sink="redis") == 1
    assert len(session.exec(select(OutboxEvent)).all()) == 1


def test_enqueue_refuses_a_payload_without_key(session: Session) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        enqueue_one(session, {"story_id": "x"}, ["redis"])


def test_rollback_drops_the_event_with_the_article(session: Session) -> None:
    enqueue_one(session, example_story(n=1), ["redis"])
    session.rollback()
    assert pending_count(session=session) == 0


def test_claim_returns_stored_json_and_marks_move_state(session: Session) -> None:
    for n in range(3):
        enqueue_one(session, example_story(n=n), ["redis"])
    session.commit()
    now = datetime.now(UTC) + timedelta(seconds=1)
    claimed = claim_due(session=session, sink="redis", now=now, limit=2)
    assert [c.event.payload["article"]["title"] for c in claimed] == ["Story 0", "Story 1"]
    assert claimed[0].event.payload == example_story(n=0)
    mark_sent(session=session, deliveries=claimed[:1], now=now)
    record_attempts(
        session=session,
        updates=[
            DeliveryUpdate(claimed[1].delivery_id, DeliveryStatus.DEAD, 8, now, "HTTP 500"),
        ],
    )
    session.commit()
    assert [
        c.event.payload["article"]["title"]
        for c in claim_due(session=session, sink="redis", now=now, limit=10)
    ] == ["Story 2"]
    session.rollback()
    assert pending_count(session=session) == 1
    sent = session.get(Delivery, claimed[0].delivery_id)
    assert sent is not None and sent.status == "sent" and sent.attempts == 1 and sent.sent_at
    (letter,) = dead_letters(session=session, limit=10)
    assert (letter.delivery_id, letter.attempts, letter.last_error) == (
        claimed[1].delivery_id,
        8,
        "HTTP 500",
    )
    assert letter.story_id == example_story(n=1)["story_id"]
    with pytest.raises(ValueError):
        requeue_dead(session=session)
    assert requeue_dead(session=session, ids=[letter.delivery_id]) == 1
    session.commit()
    assert dead_letters(session=session, limit=10) == []
    assert pending_count(session=session) == 2


def test_requeue_all_and_claim_respects_next_attempt(session: Session) -> None:
    enqueue_one(session, example_story(n=1), ["hook"])
    session.commit()
    (claimed,) = claim_due(session=session, sink="hook", now=datetime.now(UTC), limit=5)
    later = datetime.now(UTC) + timedelta(hours=1)
    record_attempts(
        session=session,
        updates=[DeliveryUpdate(claimed.delivery_id, DeliveryStatus.PENDING, 1, later, "down")],
    )
    session.commit()
    assert claim_due(session=session, sink="hook", now=datetime.now(UTC), limit=5) == []
    assert len(claim_due(session=session, sink="hook", now=later, limit=5)) == 1
    session.rollback()
    record_attempts(
        session=session,
        updates=[DeliveryUpdate(claimed.delivery_id, DeliveryStatus.DEAD, 8, later, "down")],
    )
    session.commit()
    assert requeue_dead(session=session, all=True) == 1
    session.commit()
    delivery = session.get(Delivery, claimed.delivery_id)
    assert delivery is not None
    session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("pending", 0)


def test_oldest_pending_age(session: Session) -> None:
    assert oldest_pending_age(session=session) is None
    enqueue_one(session, example_story(n=1), ["redis"])
    session.commit()
    age = oldest_pending_age(session=session, now=datetime.now(UTC) + timedelta(seconds=30))
    assert age is not None
    assert timedelta(seconds=29) < age < timedelta(seconds=40)


def test_iter_events_since_batches_in_order(session: Session) -> None:
    for n in range(5):
        enqueue_one(session, example_story(n=n), ["redis"])
    session.commit()
    batches = list(iter_events_since(session=session, since=T0, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert list(iter_events_since(session=session, since=future)) == []


def test_stories_since_and_get_story(session: Session) -> None:
    feed = Feed(url="https://news.example.org/feed.xml")
    session.add(feed)
    session.flush()
    assert feed.id is not None
    for n in range(3):
        payload = example_story(n=n)
        article = ArticleRecord(
            feed_id=feed.id,
            entry_key=f"guid-{n}",
            story_id=payload["story_id"],
            title=payload["article"]["title"],
            published_at=T0,
            content_hash=f"h{n}",
        )
        session.add(article)
        session.flush()
        assert article.id is not None
        event_id = enqueue_one(session, payload, ["redis"])
        session.add(
            Story(
                story_id=payload["story_id"],
                primary_article_id=article.id,
                last_event_id=event_id,
                updated_at=T0 + timedelta(minutes=n),
            )
        )
    session.commit()
    titles = [s["article"]["title"] for s in iter_stories_since(session=session, batch_size=2)]
    assert titles == ["Story 0", "Story 1", "Story 2"]
    since = T0 + timedelta(minutes=1)
    recent = [s["article"]["title"] for s in iter_stories_since(session=session, since=since)]
    assert recent == ["Story 1", "Story 2"]
    wanted = example_story(n=2)
    assert get_story(session=session, story_id=wanted["story_id"]) == wanted
    assert get_story(session=session, story_id="missing") is None


def test_bulk_enqueue_adds_one_delivery_per_sink_in_order(session: Session) -> None:
    payloads = [example_story(n=n) for n in range(5)]
    assert enqueue_new(session, payloads, ["redis", "jsonl"]) == 5
    session.commit()
    events = session.exec(select(OutboxEvent).order_by(OutboxEvent.id)).all()  # type: ignore[arg-type]
    assert [e.idempotency_key for e in events] == [p["idempotency_key"] for p in payloads]
    assert [e.payload for e in events] == payloads
    deliveries = session.exec(select(Delivery)).all()
    assert sorted((d.event_id, d.sink) for d in deliveries) == sorted(
        (e.id, sink) for e in events for sink in ("jsonl", "redis")
    )
    assert {d.status for d in deliveries} == {"pending"}
    assert {d.attempts for d in deliveries} == {0}
    claimed = claim_due(
        session=session, sink="jsonl", now=datetime.now(UTC) + timedelta(seconds=1), limit=10
    )
    assert [c.event.payload for c in claimed] == payloads


def test_bulk_enqueue_is_idempotent_on_keys(session: Session) -> None:
    enqueue_one(session, example_story(n=1), ["redis"])
    session.commit()
    payloads = [example_story(n=n) for n in (0, 1, 2, 2)] + [example_story(n=2, revision=2)]
    assert enqueue_new(session, payloads, ["redis"]) == 3
    session.commit()
    assert enqueue_new(session, payloads, ["redis"]) == 0
    session.commit()
    keys = sorted(session.exec(select(OutboxEvent.idempotency_key)).all())
    assert keys == sorted({p["idempotency_key"] for p in payloads})
    assert pending_count(session=session, sink="redis") == 4


def test_bulk_enqueue_chunks_key_lookups(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "KEY_LOOKUP_CHUNK", 2)
    payloads = [example_story(n=n) for n in range(5)]
    enqueue_new(session, payloads[:3], ["jsonl"])
    assert enqueue_new(session, payloads, ["jsonl"]) == 2
    assert enqueue_new(session, [], ["jsonl"]) == 0
    session.commit()
    assert pending_count(session=session) == 5


def test_bulk_enqueue_refuses_a_payload_without_key(session: Session) -> None:
    with pytest.raises(ValueError, match=r"payloads\[1\]\.idempotency_key"):
        enqueue_new(session, [example_story(n=1), {"story_id": "x"}], ["redis"])


def test_bulk_enqueue_rolls_back_with_the_transaction(session: Session) -> None:
    enqueue_new(session, [example_story(n=1)], ["redis"])
    session.rollback()
    assert pending_count(session=session) == 0
