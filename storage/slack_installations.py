"""Slack installations for a multi-workspace (OAuth) install: Bolt's own SQLAlchemy stores,
with their tables declared in the shared `metadata` so migration 0004 and the schema check cover
them. The tables and columns are slack_sdk's (keyed by team_id, the tenant)."""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.schema import metadata

INSTALLATIONS = "slack_installations"
BOTS = "slack_bots"
OAUTH_STATES = "slack_oauth_states"
STATE_SECONDS = 600  # an install link works for ten minutes

slack_installations = AsyncSQLAlchemyInstallationStore.build_installations_table(
    metadata, INSTALLATIONS
)
slack_bots = AsyncSQLAlchemyInstallationStore.build_bots_table(metadata, BOTS)
slack_oauth_states = AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, OAUTH_STATES)


def installation_store(engine: AsyncEngine, client_id: str) -> AsyncSQLAlchemyInstallationStore:
    return AsyncSQLAlchemyInstallationStore(
        client_id=client_id,
        engine=engine,
        bots_table_name=BOTS,
        installations_table_name=INSTALLATIONS,
    )


def oauth_state_store(engine: AsyncEngine) -> AsyncSQLAlchemyOAuthStateStore:
    return AsyncSQLAlchemyOAuthStateStore(
        expiration_seconds=STATE_SECONDS, engine=engine, table_name=OAUTH_STATES
    )
