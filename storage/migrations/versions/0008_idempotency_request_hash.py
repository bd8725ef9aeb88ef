"""Runs: the hash of the start request that used an Idempotency-Key, so that the key reused for a
different request is refused (409) instead of answered with the first run.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs started before have no hash: a retry of those is answered as before.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("request_hash", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("request_hash")
