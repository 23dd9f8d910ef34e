"""The profile set's version: workers compare it to know when to rebuild their matcher."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlmodel import Session, col

from newsworker.storage.models import StoreState

PROFILES_VERSION_KEY = "profiles_version"


def bump_profiles_version(*, session: Session) -> str:
    """Give the profile set a new version so workers rebuild their matcher; not committed."""
    version = uuid.uuid4().hex
    state = session.get(StoreState, PROFILES_VERSION_KEY)
    if state is None:
        session.add(StoreState(key=PROFILES_VERSION_KEY, value=version))
    else:
        state.value = version
        session.add(state)
    session.flush()
    return version


def profiles_version(*, session: Session) -> str | None:
    """The profile set's version, one primary-key read: cheap enough to check per task."""
    return session.execute(
        select(col(StoreState.value)).where(col(StoreState.key) == PROFILES_VERSION_KEY)
    ).scalar_one_or_none()
