"""The helpers of a `newsworker run` round, started only when the round has work for them.

An unchanged round (every feed answers 304) should cost little more than its conditional GETs.
So the prepare processes (and the language model they share) start when the first body needs
preparing, the publisher process and the WAL checkpoint thread when the first feed has stored
something to publish. The round ends with a relay pass of its own, so a publisher started late
(or never) leaves nothing unsent.

Forks happen in this order, each while no thread of ours can be inside SQLite: the prepare
processes (which never touch SQLite), then the publisher, and only then the checkpoint thread
(see storage/wal.py). A progress bar's refresh thread is paused around each fork, so a child
cannot inherit the console's lock held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext

from newsworker.stages.enrich import EntityMatcher
from newsworker.stages.prepare import PreparedFeed, PrepareJob
from newsworker.storage.wal import background_checkpoints
from newsworker.tasks.pipeline import PollOutcome
from newsworker.tasks.runtime import Runtime
from newsworker.worker.prepare_pool import PreparePool
from newsworker.worker.progress import ProgressReport
from newsworker.worker.publisher import Publisher, publishing_alongside


def current_matcher(runtime: Runtime) -> EntityMatcher:
    """The entity matcher for the profiles in the store now."""
    with runtime.session() as session:
        return runtime.matchers.get(session)


class PoolOnDemand:
    """Prepare processes sharing an entity matcher, forked by the first job submitted."""

    def __init__(self, runtime: Runtime, processes: int, matcher: EntityMatcher | None = None):
        self.processes = processes
        self._runtime = runtime
        self._matcher = matcher
        self._pool: PreparePool | None = None
        # Set by each round to pause its progress display around the fork.
        self.pause: Callable[[], AbstractContextManager[None]] = nullcontext

    @property
    def started(self) -> bool:
        """Whether the processes have been forked."""
        return self._pool is not None

    def submit(self, job: PrepareJob) -> Callable[[], PreparedFeed]:
        """Start preparing job in a prepare process (forking them first if need be)."""
        if self._pool is None:
            matcher = self._matcher or current_matcher(self._runtime)
            with self.pause():
                # Built before the fork, so that the children match with the parent's matcher.
                self._pool = PreparePool(self.processes, matcher=matcher)
        return self._pool.submit(job)

    def close(self) -> None:
        """Stop the processes, if they were started."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class RoundHelpers:
    """Starts the round's publisher and WAL checkpoints on its first stored feed; stops them."""

    def __init__(self, runtime: Runtime, stack: ExitStack, *, publish_alongside: bool) -> None:
        self._runtime = runtime
        self._stack = stack
        self._publish_alongside = publish_alongside
        self._started = False
        self.publisher: Publisher | None = None
        self.report: ProgressReport | None = None

    def after(self, outcome: PollOutcome) -> None:
        """Called with each feed's outcome once it is committed."""
        if self._started or not (outcome.new or outcome.updated or outcome.duplicate):
            return
        self._started = True
        if self._publish_alongside:
            with self.pause():
                self.publisher = self._stack.enter_context(
                    publishing_alongside(self._runtime.settings)
                )
        # After the forks: see storage/wal.py.
        self._stack.enter_context(background_checkpoints(self._runtime.settings.database_url))

    def finish(self) -> int:
        """Let the publisher (if it started) publish what is committed; the deliveries it sent."""
        return self.publisher.finish() if self.publisher else 0

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Stop the progress bar's refresh thread for the block (a fork), then show it again."""
        bar = self.report.bar if self.report else None
        if bar is None:
            yield
            return
        bar.stop()
        try:
            yield
        finally:
            bar.start()
