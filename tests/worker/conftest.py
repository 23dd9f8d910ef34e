"""Fixtures shared by the worker tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from newsworker.tasks.runtime import set_runtime


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """The CLI configures logging and installs a runtime; put both back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    set_runtime(None)
