"""A process that relays the outbox while `newsworker run` polls, as the fleet's publish queue does.

Stories go out as soon as their feed's transaction commits, so downstream does not wait for the
whole round, and the relay's reads and writes stay off the process that stores. The round still
ends with a relay pass of its own, so anything this process left (or all of it, if it died) is
published before `run` reports.

Forked before the round starts other processes or threads (see storage/wal.py on why).
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from newsworker.config.settings import Settings
from newsworker.storage.db import dispose_engines
from newsworker.tasks.publishing import relay_all, relay_once
from newsworker.tasks.runtime import build_runtime
from newsworker.worker.prepare_pool import die_with_parent

log = logging.getLogger("newsworker.publisher")

# How long the publisher waits after a pass that found less than a batch.
IDLE_SECONDS = 0.2
# How long the round waits for the publisher's last pass before stopping it.
STOP_TIMEOUT_SECONDS = 300.0


class Publisher:
    """Handle on a running publisher process."""

    def __init__(
        self, process: multiprocessing.process.BaseProcess, stop: Event, sent: Synchronized[int]
    ) -> None:
        self._process, self._stop, self._sent = process, stop, sent

    def finish(self) -> int:
        """Let it publish what is committed, wait for it; return the deliveries it sent."""
        self._stop.set()
        self._process.join(STOP_TIMEOUT_SECONDS)
        if self._process.is_alive():
            log.error("the publisher did not stop in time; stopping it")
            self._process.terminate()
            self._process.join()
        return int(self._sent.value)


@contextmanager
def publishing_alongside(settings: Settings) -> Iterator[Publisher | None]:
    """Relay the outbox from a forked process while the block runs (None where fork is not)."""
    if sys.platform != "linux":
        yield None
        return
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    sent = context.Value("q", 0)
    process = context.Process(
        target=_publish_until_stopped,
        args=(settings, stop, sent),
        name="newsworker-publisher",
        daemon=True,
    )
    process.start()
    publisher = Publisher(process, stop, sent)
    try:
        yield publisher
    finally:
        if process.is_alive():  # the round ended early (an error, Ctrl-C): stop it all the same
            publisher.finish()


def _publish_until_stopped(settings: Settings, stop: Event, sent: Synchronized[int]) -> None:
    die_with_parent()
    dispose_engines()  # the parent's pooled connections are the parent's
    runtime = build_runtime(settings)
    batch_size = settings.publish_batch_size
    try:
        while True:
            stopping = stop.is_set()
            count = relay_all(runtime) if stopping else relay_once(runtime).sent
            with sent.get_lock():
                sent.value += count
            if stopping:
                return
            if count < batch_size:
                # Let a batch gather: a pass per committed feed cost a query and an fsync each.
                stop.wait(IDLE_SECONDS)
    except Exception:
        # The round's own relay pass publishes what is left.
        log.exception("the publisher process failed; the round will publish the rest")
