"""Out-of-office records on SQL (`engine.ports.AwayStore`); table `aways` in `storage.schema`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.away import Away
from storage.database import READONLY
from storage.dialect import insert_for
from storage.schema import aways


def _away(row: Any) -> Away:
    return Away(
        tenant_id=row.tenant_id,
        user=row.user,
        delegate=row.delegate,
        starts=row.starts,
        until=row.until,
        created_by=row.created_by,
    )


class SqlAwayStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def put(self, away: Away) -> None:
        values = {
            "delegate": away.delegate,
            "starts": away.starts,
            "until": away.until,
            "created_by": away.created_by,
        }
        insert = insert_for(self._engine.dialect.name)
        statement = insert(aways).values(tenant_id=away.tenant_id, user=away.user, **values)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "user"], set_=values
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def delete(self, tenant_id: str, user: str) -> bool:
        a = aways.c
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(aways).where(a.tenant_id == tenant_id, a.user == user)
            )
        return bool(result.rowcount)

    async def get(self, tenant_id: str, user: str) -> Away | None:
        a = aways.c
        query = select(aways).where(a.tenant_id == tenant_id, a.user == user)
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return _away(row) if row else None

    async def current(self, tenant_id: str, now: datetime) -> list[Away]:
        a = aways.c
        query = select(aways).where(a.tenant_id == tenant_id, a.until > now).order_by(a.user)
        async with self._reader.connect() as conn:
            return [_away(row) for row in await conn.execute(query)]
