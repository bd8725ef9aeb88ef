"""Slack: where each card was posted (channel, ts), to update it after a restart.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_messages",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(320), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "run_id", "step_id", "principal", name="pk_slack_messages"
        ),
    )


def downgrade() -> None:
    op.drop_table("slack_messages")
