"""articles.authors and feed_errors.reason

articles.authors keeps every author's name in order (the story payload's `authors`), so stories
rebuilt from stored rows carry them; rows stored before keep NULL and are read as their one
`author`. feed_errors.reason is a short code for why an entry was rejected, so rejected entries
can be counted by reason per feed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("authors", sa.JSON(), nullable=True))
    op.add_column("feed_errors", sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_errors") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("authors")
