"""The Slack workflow steps (functions) waiting on runs (`bot.function_steps.FunctionSteps` on
SQL), by execution id (which the run names), so a step still completes after a restart. Table
`slack_function_steps` (migration 0014), in the shared `metadata`.

The function's bot token (xwfp-…) is sealed like the tenant secrets (`storage.secrets.SecretBox`,
AES-256-GCM under a key from SECRET_KEY), bound to the tenant and the execution id: a database
dump gives no token away, and a row moved to another step does not decrypt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, LargeBinary, PrimaryKeyConstraint, String, Table, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.errors import EngineError, SecretUnreadable
from storage.database import READONLY
from storage.dialect import insert_for
from storage.schema import Tenant, UTCDateTime, metadata
from storage.secrets import SecretBox

slack_function_steps = Table(
    "slack_function_steps",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("execution_id", String(64), nullable=False),  # Slack's function_execution_id
    Column("callback_id", String(64), nullable=False),  # which step (function) of the app
    Column("token", LargeBinary, nullable=False),  # sealed: version byte, nonce, ciphertext+tag
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),  # Slack was told the step's end
    PrimaryKeyConstraint("tenant_id", "execution_id"),
)


@dataclass(frozen=True)
class StoredFunctionStep:
    execution_id: str
    callback_id: str
    token: str
    completed: bool


def _bound(execution_id: str) -> str:
    return f"slack-function:{execution_id}"  # never a secret's name (those are UPPER_CASE)


class SqlFunctionSteps:
    """`key` gives SECRET_KEY when a token is first sealed or opened."""

    def __init__(self, engine: AsyncEngine, key: Callable[[], str] | None) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)
        self._key = key
        self._box: SecretBox | None = None

    def _sealer(self) -> SecretBox:
        if self._box is None:
            if self._key is None:
                raise EngineError("Slack workflow steps need SECRET_KEY to keep their tokens")
            self._box = SecretBox(self._key())
        return self._box

    async def put(
        self, tenant_id: str, execution_id: str, callback_id: str, token: str, now: datetime
    ) -> None:
        """Keep a step Slack started (again: its token is refreshed)."""
        sealed = self._sealer().seal(tenant_id, _bound(execution_id), token)
        insert = insert_for(self._engine.dialect.name)
        statement = insert(slack_function_steps).values(
            tenant_id=tenant_id,
            execution_id=execution_id,
            callback_id=callback_id,
            token=sealed,
            created_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "execution_id"], set_={"token": sealed}
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def refresh_token(self, tenant_id: str, execution_id: str, token: str) -> None:
        """A newer token from an interaction with a message of the step (Slack sends one)."""
        sealed = self._sealer().seal(tenant_id, _bound(execution_id), token)
        await self._set(tenant_id, execution_id, token=sealed)

    async def completed(self, tenant_id: str, execution_id: str, now: datetime) -> None:
        await self._set(tenant_id, execution_id, completed_at=now)

    async def _set(self, tenant_id: str, execution_id: str, **values: object) -> None:
        t = slack_function_steps.c
        statement = (
            sql_update(slack_function_steps)
            .where(t.tenant_id == tenant_id, t.execution_id == execution_id)
            .values(**values)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def get(self, tenant_id: str, execution_id: str) -> StoredFunctionStep | None:
        t = slack_function_steps.c
        query = select(t.execution_id, t.callback_id, t.token, t.completed_at).where(
            t.tenant_id == tenant_id, t.execution_id == execution_id
        )
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        try:
            token = self._sealer().open(tenant_id, _bound(row.execution_id), row.token)
        except SecretUnreadable:
            raise SecretUnreadable(
                "the token of this run's Slack step cannot be decrypted: SECRET_KEY changed "
                "since the step started"
            ) from None
        return StoredFunctionStep(
            row.execution_id, row.callback_id, token, row.completed_at is not None
        )
