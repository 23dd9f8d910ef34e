"""Progress for long operations: a bar on a terminal, else a plain log line every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import Progress

log = logging.getLogger("newsworker.progress")


@dataclass
class ProgressReport:
    """Counts work done; shows it as a bar (terminal) or as periodic log lines (logs)."""

    description: str
    total: float | None
    unit: str
    bar: Progress | None = None
    task_id: int | None = None
    done: float = 0
    log_every_seconds: float = 5.0
    _last_log: float = field(default_factory=time.monotonic)

    def advance(self, amount: float = 1) -> None:
        """Record `amount` more units done."""
        self.done += amount
        if self.bar is not None and self.task_id is not None:
            self.bar.advance(self.task_id, amount)  # type: ignore[arg-type]
            return
        now = time.monotonic()
        if now - self._last_log >= self.log_every_seconds:
            self._last_log = now
            self._log()

    def _log(self) -> None:
        of = f" of {self.total:,.0f}" if self.total is not None else ""
        log.info(f"{self.description}: {self.done:,.0f}{of} {self.unit}")


@contextmanager
def progress(
    console: Console, description: str, *, total: float | None = None, unit: str = "items"
) -> Iterator[ProgressReport]:
    """A ProgressReport for one long operation; logs a final line when not on a terminal."""
    if console.is_terminal:
        with Progress(console=console, transient=True) as bar:
            task_id = bar.add_task(description, total=total)
            yield ProgressReport(description, total, unit, bar=bar, task_id=task_id)
        return
    report = ProgressReport(description, total, unit)
    yield report
    if report.done or report.total:  # an idle round says nothing
        report._log()
