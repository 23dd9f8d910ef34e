"""A SQLite URL must name a folder that exists: a typo never starts an empty store elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from newsworker.storage.db import DatabaseLocationError, create_db_engine


def test_a_missing_folder_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "deeper"
    with pytest.raises(DatabaseLocationError, match="NEWSWORKER_DATABASE_URL") as caught:
        create_db_engine(f"sqlite:///{missing / 'store.db'}")
    assert str(missing) in str(caught.value)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///{tmp}/new.db"])
def test_memory_and_new_files_in_existing_folders_are_fine(tmp_path: Path, url: str) -> None:
    engine = create_db_engine(url.format(tmp=tmp_path))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
