"""Standing grants: an approver approves an agent's request and allows the same tool with the
same arguments (or a declared pattern) for some hours.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTCDateTime = sa.DateTime(timezone=True)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(128), nullable=False),
        sa.Column("requester", sa.String(320), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("pattern", sa.Text()),
        sa.Column("granted_by", sa.String(320), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revoked_by", sa.String(320)),
        sa.PrimaryKeyConstraint("tenant_id", "grant_id", name="pk_grants"),
    )
    op.create_index(
        "ix_grants_tenant_id_requester_tool_expires_at",
        "grants",
        ["tenant_id", "requester", "tool", "expires_at"],
    )
    op.create_index("ix_grants_tenant_id_expires_at", "grants", ["tenant_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_grants_tenant_id_expires_at", table_name="grants")
    op.drop_index("ix_grants_tenant_id_requester_tool_expires_at", table_name="grants")
    op.drop_table("grants")
