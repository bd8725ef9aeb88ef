"""Where the Slack adapter posted each card (`bot.message_refs.MessageRefs` on SQL), so cards
can still be updated after a restart. The table lives in the shared `metadata` (migration 0003).

Storage does not import the adapter: it is given the adapter's reference type to build
(`SqlMessageRefs(engine, MessageRef)`), and reads any reference with a channel and a ts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from sqlalchemy import Column, PrimaryKeyConstraint, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import READONLY
from storage.dialect import insert_for
from storage.schema import Id, Tenant, metadata

slack_messages = Table(
    "slack_messages",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("step_id", String(64), nullable=False),  # "" for the requester's run message
    Column("principal", String(320), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=False),
    PrimaryKeyConstraint("tenant_id", "run_id", "step_id", "principal"),
)


class Ref(Protocol):
    @property
    def channel(self) -> str: ...
    @property
    def ts(self) -> str: ...


R = TypeVar("R", bound=Ref)


class SqlMessageRefs(Generic[R]):
    def __init__(self, engine: AsyncEngine, make_ref: Callable[[str, str], R]) -> None:
        self._engine = engine
        self._make_ref = make_ref
        self._reader = engine.execution_options(**READONLY)

    async def get(self, tenant_id: str, run_id: str, step_id: str, principal: str) -> R | None:
        t = slack_messages.c
        query = select(t.channel, t.ts).where(
            t.tenant_id == tenant_id,
            t.run_id == run_id,
            t.step_id == step_id,
            t.principal == principal,
        )
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return self._make_ref(row.channel, row.ts) if row else None

    async def put(self, tenant_id: str, run_id: str, step_id: str, principal: str, ref: R) -> None:
        insert = insert_for(self._engine.dialect.name)
        statement = insert(slack_messages).values(
            tenant_id=tenant_id,
            run_id=run_id,
            step_id=step_id,
            principal=principal,
            channel=ref.channel,
            ts=ref.ts,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "run_id", "step_id", "principal"],
            set_={"channel": ref.channel, "ts": ref.ts},
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def for_step(self, tenant_id: str, run_id: str, step_id: str) -> dict[str, R]:
        t = slack_messages.c
        query = select(t.principal, t.channel, t.ts).where(
            t.tenant_id == tenant_id, t.run_id == run_id, t.step_id == step_id
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.principal: self._make_ref(row.channel, row.ts) for row in rows}
