"""Standing grants on SQL (`engine.ports.GrantStore`); table `grants` in `storage.schema`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine import Grant
from storage.database import READONLY
from storage.dialect import insert_for
from storage.schema import grants


def _grant(row: Any) -> Grant:
    return Grant(
        tenant_id=row.tenant_id,
        grant_id=row.grant_id,
        requester=row.requester,
        agent=row.agent,
        tool=row.tool,
        digest=row.digest,
        arguments=json.loads(row.arguments),
        pattern=json.loads(row.pattern) if row.pattern is not None else None,
        granted_by=row.granted_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class SqlGrantStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def put(self, grant: Grant) -> None:
        insert = insert_for(self._engine.dialect.name)
        statement = insert(grants).values(
            tenant_id=grant.tenant_id,
            grant_id=grant.grant_id,
            requester=grant.requester,
            agent=grant.agent,
            tool=grant.tool,
            digest=grant.digest,
            arguments=json.dumps(grant.arguments, sort_keys=True),
            pattern=json.dumps(grant.pattern, sort_keys=True)
            if grant.pattern is not None
            else None,
            granted_by=grant.granted_by,
            created_at=grant.created_at,
            expires_at=grant.expires_at,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by,
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement.on_conflict_do_nothing())

    async def get(self, tenant_id: str, grant_id: str) -> Grant | None:
        g = grants.c
        query = select(grants).where(g.tenant_id == tenant_id, g.grant_id == grant_id)
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return _grant(row) if row else None

    async def active(
        self,
        tenant_id: str,
        now: datetime,
        *,
        requester: str | None = None,
        tool: str | None = None,
    ) -> list[Grant]:
        g = grants.c
        query = select(grants).where(
            g.tenant_id == tenant_id, g.expires_at > now, g.revoked_at.is_(None)
        )
        if requester is not None:
            query = query.where(g.requester == requester)
        if tool is not None:
            query = query.where(g.tool == tool)
        async with self._reader.connect() as conn:
            rows = await conn.execute(query.order_by(g.expires_at, g.grant_id))
            return [_grant(row) for row in rows]

    async def revoke(self, tenant_id: str, grant_id: str, by: str, at: datetime) -> Grant | None:
        g = grants.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(grants)
                .where(g.tenant_id == tenant_id, g.grant_id == grant_id, g.revoked_at.is_(None))
                .values(revoked_at=at, revoked_by=by)
            )
        return await self.get(tenant_id, grant_id)
