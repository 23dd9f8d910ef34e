"""a story's payload lives in its last outbox event

Stories kept a copy of their latest payload, which the outbox event of that revision already
holds: every story was written twice. stories.last_event_id now points at that event.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The idempotency key of a story revision, as newsworker.stages.publish.story.idempotency_key_for builds it.
_KEY = "stories.story_id || ':' || CAST(stories.revision AS VARCHAR)"


def upgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.add_column(sa.Column("last_event_id", sa.Integer(), nullable=True))
    # A story whose latest event was pruned keeps its payload in a new event with no delivery
    # (nothing is re-sent); every other story points at the event it was last announced with.
    op.execute(
        "INSERT INTO outbox_events (story_id, revision, event, idempotency_key, payload, "
        "created_at) "
        f"SELECT story_id, revision, last_event, {_KEY}, payload, updated_at FROM stories "
        f"WHERE NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.idempotency_key = {_KEY})"
    )
    op.execute(
        "UPDATE stories SET last_event_id = "
        f"(SELECT e.id FROM outbox_events e WHERE e.idempotency_key = {_KEY})"
    )
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("payload")


def downgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE stories SET payload = "
        "(SELECT e.payload FROM outbox_events e WHERE e.id = stories.last_event_id)"
    )
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("last_event_id")
