"""The Celery queues: one per kind of work, so ops scale dispatch, polling and publishing apart."""

from __future__ import annotations

DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE = "dispatch", "poll", "publish"
QUEUES = (DISPATCH_QUEUE, POLL_QUEUE, PUBLISH_QUEUE)
