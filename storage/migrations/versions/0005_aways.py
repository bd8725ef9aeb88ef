"""Out of office: while a user is away, new requests for them go to their delegate.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTCDateTime = sa.DateTime(timezone=True)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aways",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user", sa.String(320), nullable=False),
        sa.Column("delegate", sa.String(320), nullable=False),
        sa.Column("starts", UTCDateTime, nullable=False),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(320)),
        sa.PrimaryKeyConstraint("tenant_id", "user", name="pk_aways"),
    )
    op.create_index("ix_aways_tenant_id_until", "aways", ["tenant_id", "until"])


def downgrade() -> None:
    op.drop_index("ix_aways_tenant_id_until", table_name="aways")
    op.drop_table("aways")
