"""Initial schema: definitions, runs, events, projections, outbox, timers.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTCDateTime = sa.DateTime(timezone=True)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TENANT = sa.String(64)
ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", name="pk_workflows"),
    )
    op.create_table(
        "definitions",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", "version", name="pk_definitions"),
    )
    op.create_table(
        "runs",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requester", sa.String(320), nullable=False),
        sa.Column("current_step", sa.String(64)),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.PrimaryKeyConstraint("tenant_id", "run_id", name="pk_runs"),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name="uq_runs_tenant_id_idempotency_key"
        ),
    )
    op.create_index(
        "ix_runs_tenant_id_started_at_run_id", "runs", ["tenant_id", "started_at", "run_id"]
    )
    op.create_table(
        "events",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "run_id", "seq", name="pk_events"),
    )
    op.create_table(
        "steps",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.PrimaryKeyConstraint("tenant_id", "run_id", "step_id", name="pk_steps"),
    )
    op.create_table(
        "pending_tasks",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("requester", sa.String(320), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "run_id", "step_id", "principal", name="pk_pending_tasks"
        ),
    )
    op.create_index(
        "ix_pending_tasks_tenant_id_principal_since",
        "pending_tasks",
        ["tenant_id", "principal", "since"],
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("available_at", UTCDateTime, nullable=False),
        sa.Column("locked_until", UTCDateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("done_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index(
        "ix_outbox_open",
        "outbox",
        ["available_at", "id"],
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )
    op.create_table(
        "timers",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step_id", sa.String(64)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
    )
    op.create_index("ix_timers_due_at", "timers", ["due_at"])
    op.create_index("ix_timers_tenant_id_run_id", "timers", ["tenant_id", "run_id"])


def downgrade() -> None:
    for table in (
        "timers",
        "outbox",
        "pending_tasks",
        "steps",
        "events",
        "runs",
        "definitions",
        "workflows",
    ):
        op.drop_table(table)
