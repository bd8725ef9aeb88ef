"""Slack OAuth: installations, bots and install states (slack_sdk's SQLAlchemy store tables).

The tables are built by slack_sdk's own table builders, so they are exactly what its stores read
and write; the migration check (migrations against metadata) catches a drift after an upgrade of
slack_sdk, which then needs a new revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def _tables() -> list[sa.Table]:
    md = sa.MetaData(naming_convention=NAMING)
    return [
        SQLAlchemyInstallationStore.build_installations_table(md, "slack_installations"),
        SQLAlchemyInstallationStore.build_bots_table(md, "slack_bots"),
        SQLAlchemyOAuthStateStore.build_oauth_states_table(md, "slack_oauth_states"),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _tables():
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_tables()):
        table.drop(bind)
