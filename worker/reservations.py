"""Broker reservations tied to the worker's liveness, on the Redis transport.

kombu keeps each unacked message in `unacked_index` (a sorted set scored by delivery time) and
puts it back on its queue once the score is older than the visibility timeout. A short timeout
brings a dead worker's reserved polls back quickly, but would also redeliver a live worker's
long poll, or an ETA task it holds. So the worker's main process re-scores every message it
still holds every `renew_interval(visibility)` seconds: a message goes back to the queue only
when its worker stopped renewing it, that is one visibility timeout after the worker died.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps
from kombu.transport.redis import Channel as RedisChannel

log = logging.getLogger("newsworker.worker")

# How often every worker sweeps unacked_index for messages no live worker renews.
RESTORE_SWEEP_SECONDS = 5.0


def renew_interval(visibility_timeout: float) -> float:
    """Seconds between renewals: a sixth of the timeout, so several may fail before it lapses."""
    return max(1.0, visibility_timeout / 6)


def held_tags(channel: Any) -> list[str]:
    """Delivery tags of the messages this channel holds unacked (received, not yet acked)."""
    qos = getattr(channel, "qos", None)
    if qos is None:
        return []
    dirty = set(qos._dirty)  # acked or rejected, not flushed yet
    return [tag for tag in list(qos._delivered) if tag not in dirty]


def renew_reservations(channel: Any, now: float | None = None) -> int:
    """Re-score this channel's unacked messages in unacked_index; returns how many were renewed."""
    if not isinstance(channel, RedisChannel):
        return 0
    tags = held_tags(channel)
    if not tags:
        return 0
    stamp = time.time() if now is None else now
    with channel.conn_or_acquire() as client:
        # XX: never re-add a message acked or restored since the tags were read.
        return int(
            client.zadd(channel.unacked_index_key, dict.fromkeys(tags, stamp), xx=True, ch=True)
        )


class RenewReservations(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep: renew the worker's unacked messages on the consumer's timer."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        self.tref: Any = None
        super().__init__(parent, **kwargs)

    def start(self, c: Any) -> None:
        """Start renewing every renew_interval(visibility timeout) seconds."""
        options = c.app.conf.broker_transport_options or {}
        visibility = float(options.get("visibility_timeout", 3600))
        self.tref = c.timer.call_repeatedly(renew_interval(visibility), self._renew, (c,))

    def _renew(self, c: Any) -> None:
        consumer = getattr(c, "task_consumer", None)
        channel = getattr(consumer, "channel", None)
        try:
            renew_reservations(channel)
        except Exception as e:  # broker blip: the next tick tries again, well within the timeout
            log.warning("reservation renewal failed", extra={"error": str(e)[:300]})

    def stop(self, c: Any) -> None:
        """Stop renewing (a stopping worker restores or acks its messages itself)."""
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop
