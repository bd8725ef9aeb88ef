"""List indexes: runs by status, requester and workflow, and a tenant's pending tasks, each in
the order its list reads them, so a page costs the same at 10,000 runs as at 1,000,000.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_RUNS = ("status", "requester", "workflow")
_MINE = "ix_pending_tasks_tenant_id_principal_since_run_id_step_id"
_TASKS = "ix_pending_tasks_tenant_id_since_run_id_step_id_principal"


def upgrade() -> None:
    for column in _RUNS:
        op.create_index(
            f"ix_runs_tenant_id_{column}_started_at_run_id",
            "runs",
            ["tenant_id", column, "started_at", "run_id"],
        )
    op.drop_index("ix_pending_tasks_tenant_id_principal_since", table_name="pending_tasks")
    op.create_index(
        _MINE, "pending_tasks", ["tenant_id", "principal", "since", "run_id", "step_id"]
    )
    op.create_index(
        _TASKS, "pending_tasks", ["tenant_id", "since", "run_id", "step_id", "principal"]
    )


def downgrade() -> None:
    op.drop_index(_TASKS, table_name="pending_tasks")
    op.drop_index(_MINE, table_name="pending_tasks")
    op.create_index(
        "ix_pending_tasks_tenant_id_principal_since",
        "pending_tasks",
        ["tenant_id", "principal", "since"],
    )
    for column in reversed(_RUNS):
        op.drop_index(f"ix_runs_tenant_id_{column}_started_at_run_id", table_name="runs")
