"""Run participants: who takes part in which run (requester, approvers, voters, delegators), in
each person's newest-first order, so the `participant=` run list (an email person's `/runs`)
reads only the rows it shows instead of matching the text of every run of the tenant. Filled
here from the runs already stored.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.state import RunState

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 1000  # runs read (and their states parsed) per round


def upgrade() -> None:
    op.create_table(
        "run_participants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(320), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "principal", "started_at", "run_id", name="pk_run_participants"
        ),
    )
    _backfill()


def _backfill() -> None:
    """Every stored run's participants, read from its state, a batch of runs at a time."""
    bind = op.get_bind()
    rn = sa.table(
        "runs",
        sa.column("tenant_id"),
        sa.column("run_id"),
        sa.column("started_at"),
        sa.column("state"),
    )
    rp = sa.table(
        "run_participants",
        sa.column("tenant_id"),
        sa.column("principal"),
        sa.column("started_at"),
        sa.column("run_id"),
    )
    after: tuple[str, str] | None = None
    while True:
        query = sa.select(rn.c.tenant_id, rn.c.run_id, rn.c.started_at, rn.c.state)
        if after is not None:
            query = query.where(sa.tuple_(rn.c.tenant_id, rn.c.run_id) > sa.tuple_(*after))
        rows = bind.execute(query.order_by(rn.c.tenant_id, rn.c.run_id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(
            rp.insert(),
            [
                {"tenant_id": t, "principal": who, "started_at": at, "run_id": r}
                for t, r, at, state in rows
                for who in sorted(RunState.model_validate_json(state).participants())
            ],
        )
        after = (rows[-1].tenant_id, rows[-1].run_id)


def downgrade() -> None:
    op.drop_table("run_participants")
