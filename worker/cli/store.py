"""The store a command works on: migrated on the embedded SQLite default, checked elsewhere."""

from __future__ import annotations

from pathlib import Path

from newsworker.config.settings import Settings
from newsworker.storage.migrate import is_at_head, upgrade
from newsworker.worker.cli.context import Logs, fail, settings


def sqlite_file(database_url: str) -> Path | None:
    """The file of a file-backed SQLite database; None for anything else.

    Its folder is never created: a typo must not start an empty store somewhere else
    (the engine factory refuses a missing folder with a clear error).
    """
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def prepare_store(cfg: Settings) -> Settings:
    """Apply migrations automatically on the embedded SQLite default; elsewhere require them."""
    if cfg.database_url.startswith("sqlite"):
        path = sqlite_file(cfg.database_url)
        if path and path.exists() and is_at_head(cfg.database_url):
            return cfg
        upgrade(cfg.database_url)
    elif not is_at_head(cfg.database_url):
        raise fail("the database is not migrated to head: run `newsworker db upgrade`")
    return cfg


def store_settings(*, logs: Logs = "off") -> Settings:
    """Settings whose store is ready to use."""
    return prepare_store(settings(logs=logs))
