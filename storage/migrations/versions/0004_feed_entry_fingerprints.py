"""feeds.entry_fingerprints: skip normalizing entries a feed already carried

A changed feed usually brings a few new entries among many it already had. Each poll stores a
short fingerprint of every entry it parsed; on the next poll, entries with a known fingerprint are
counted unchanged without being normalized, looked up or hashed again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("entry_fingerprints", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("entry_fingerprints")
