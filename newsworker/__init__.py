"""newsworker: feeds in, stories enriched with cited entity profiles out.

The source folders at the repository's top level (config, stages, storage, tasks, worker) are
this package's sub-packages; the links beside this file map them under one import name.
"""

from __future__ import annotations

from functools import cache


@cache
def _installed_version() -> str:
    # importlib.metadata costs tens of milliseconds to import: only commands that print or send
    # the version pay for it (`newsworker --help` does not).
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415  (start-up time)

    try:
        return version("newsworker")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    """`newsworker.__version__`, read from the installed package's metadata on first use."""
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module 'newsworker' has no attribute {name!r}")
