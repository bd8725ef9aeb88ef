"""Audit chain: events carry a hash chained to the previous event of their run, runs their head
hash, and signed checkpoints are kept. Events written before this migration are chained here,
and their runs marked (`runs.chained_from_backfill` = the last seq chained by the migration).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.audit.chain import GENESIS, event_hash

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("prev_hash", sa.String(64)))
    op.add_column("events", sa.Column("hash", sa.String(64)))
    op.add_column("runs", sa.Column("head_hash", sa.String(64)))
    op.add_column("runs", sa.Column("chained_from_backfill", sa.Integer()))
    op.create_table(
        "checkpoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("leaves", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
    )
    op.create_index("ix_checkpoints_tenant_id_at", "checkpoints", ["tenant_id", "at"])
    _backfill()


def _backfill() -> None:
    """Chain the events already stored, run by run, in seq order."""
    bind = op.get_bind()
    ev = sa.table(
        "events",
        sa.column("tenant_id"),
        sa.column("run_id"),
        sa.column("seq"),
        sa.column("data"),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    rn = sa.table(
        "runs",
        sa.column("tenant_id"),
        sa.column("run_id"),
        sa.column("head_hash"),
        sa.column("chained_from_backfill"),
    )
    rows = bind.execute(
        sa.select(ev.c.tenant_id, ev.c.run_id, ev.c.seq, ev.c.data).order_by(
            ev.c.tenant_id, ev.c.run_id, ev.c.seq
        )
    )
    updates: list[dict[str, object]] = []
    heads: dict[tuple[str, str], tuple[int, str]] = {}
    for tenant, run, seq, data in rows:
        prev = heads.get((tenant, run), (0, GENESIS))[1]
        digest = event_hash(tenant, run, seq, prev, data)
        updates.append({"t": tenant, "r": run, "s": seq, "p": prev, "h": digest})
        heads[(tenant, run)] = (seq, digest)
    if updates:
        bind.execute(
            ev.update()
            .where(
                ev.c.tenant_id == sa.bindparam("t"),
                ev.c.run_id == sa.bindparam("r"),
                ev.c.seq == sa.bindparam("s"),
            )
            .values(prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")),
            updates,
        )
        bind.execute(
            rn.update()
            .where(rn.c.tenant_id == sa.bindparam("t"), rn.c.run_id == sa.bindparam("r"))
            .values(head_hash=sa.bindparam("h"), chained_from_backfill=sa.bindparam("s")),
            [{"t": t, "r": r, "s": s, "h": h} for (t, r), (s, h) in heads.items()],
        )


def downgrade() -> None:
    op.drop_index("ix_checkpoints_tenant_id_at", "checkpoints")
    op.drop_table("checkpoints")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("chained_from_backfill")
        batch.drop_column("head_hash")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
