"""Audit key ids: each signed checkpoint names the key that signed it (a fingerprint of the
public key, engine.audit.checkpoint.key_id), so that checkpoints signed before a rotation of the
audit key still verify against the key they were signed with. Checkpoints from before name none.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("key_id", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("key_id")
