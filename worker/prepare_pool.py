"""Processes that run the prepare step (parse, normalize, sign) for `newsworker run`.

The prepare step is pure and about half of a new entry's cost; the other half (de-duplicating,
enriching, storing, publishing) needs the one database writer. `newsworker run` therefore
hands each fetched body to these processes and stores the previous feeds meanwhile, so the
embedded mode uses more than one core. Celery workers do not use this: each pool child runs
whole polls, and the pool's concurrency is what spreads them over the cores.

A process that dies on a body (a crash in a C parser, the OOM killer) does not take the run
down: its feeds are prepared again, one at a time, in a fresh process, and a body that kills
that one too is recorded as the feed's ParseError.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from newsworker.stages.enrich import EntityMatcher
from newsworker.stages.errors import ParseError
from newsworker.stages.normalize.language import load_language_model
from newsworker.stages.prepare import PreparedFeed, PrepareJob, prepare_feed

log = logging.getLogger("newsworker.prepare")

MAX_AUTO_PROCESSES = 4
_PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies


def prepare_processes(configured: int | None) -> int:
    """How many prepare processes to start: the setting, else one fewer than the CPUs (max 4)."""
    if configured is not None:
        return configured
    return max(0, min(MAX_AUTO_PROCESSES, (os.cpu_count() or 1) - 1))


# The entity matcher a prepare process inherited from the parent (None: the parent matches).
_child_matcher: EntityMatcher | None = None


def die_with_parent() -> None:
    """In a helper process: ignore Ctrl-C (the parent stops it) and end when the parent dies.

    Ctrl-C reaches the whole process group, and the parent stops its helpers in order. A parent
    killed outright (SIGKILL, the OOM killer) would otherwise leave them running: on Linux the
    kernel sends them SIGTERM instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # `newsworker run` handles SIGTERM by finishing its round; a helper just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(0)


def _child_start(matcher: EntityMatcher | None = None) -> None:
    global _child_matcher  # noqa: PLW0603  (set once, as the process starts)
    _child_matcher = matcher
    die_with_parent()
    load_language_model()


def _prepare_in_child(job: PrepareJob) -> PreparedFeed:
    return prepare_feed(job, _child_matcher)


def _start_method() -> str:
    # fork shares the loaded language model (about 60 MB) with the children; elsewhere each
    # child loads its own.
    return "fork" if sys.platform == "linux" else "spawn"


class PreparePool:
    """A process pool for prepare_feed that survives a child dying on a body."""

    def __init__(self, processes: int, *, matcher: EntityMatcher | None = None) -> None:
        if processes < 1:
            raise ValueError(f"PreparePool needs at least one process, not {processes}")
        self.processes = processes
        # Forked children share the parent's matcher pages; a spawned child would need a pickled
        # copy of the automaton, so it leaves matching to the parent.
        self.matcher = matcher if _start_method() == "fork" else None
        load_language_model()
        # As a Celery worker parent does before forking: what exists now (the matcher, the
        # language model) lives as long as the process, so collections need not traverse it,
        # and the children's collections do not touch (and copy) the pages they share with us.
        gc.collect()
        gc.freeze()
        self._executor = self._start()

    def _start(self, processes: int | None = None) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            processes or self.processes,
            mp_context=multiprocessing.get_context(_start_method()),
            initializer=_child_start,
            initargs=(self.matcher,),
        )
        # Fork every child now, while this process is still single-threaded where it can be
        # (before a progress display or the executor's own manager thread starts).
        executor.submit(load_language_model).result()
        return executor

    def submit(self, job: PrepareJob) -> Callable[[], PreparedFeed]:
        """Start preparing job; the returned callable waits for its PreparedFeed."""
        executor = self._executor
        future: Future[PreparedFeed] = executor.submit(_prepare_in_child, job)

        def result() -> PreparedFeed:
            try:
                return future.result()
            except BrokenProcessPool:
                return self._prepare_alone(job, executor)

        return result

    def _prepare_alone(self, job: PrepareJob, broken: ProcessPoolExecutor) -> PreparedFeed:
        """Prepare job in a process of its own after `broken` lost a child; ParseError if it dies.

        Every feed in flight fails with the pool, not only the one that killed it: alone in a
        fresh process, each one either comes through or is the culprit.
        """
        if broken is self._executor:
            log.error(
                "a prepare process died; starting new ones and preparing its feeds again",
                extra={"feed_url": job.feed_url},
            )
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
        with self._start(processes=1) as alone:
            try:
                return alone.submit(_prepare_in_child, job).result()
            except BrokenProcessPool as e:
                raise ParseError(
                    f"the process preparing feed {job.feed_url} died on its body "
                    f"({len(job.body)} bytes from {job.body_url})",
                    url=job.feed_url,
                ) from e

    def close(self) -> None:
        """Stop the processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PreparePool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
