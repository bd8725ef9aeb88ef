"""Who opened their Slack App Home (`bot.home.HomeOpeners` on SQL), and the page they look at.

Kept so that any process, after a restart or on another replica, re-publishes the Home of the
people a change concerns, and only theirs (never publishing to someone who never opened it).
The table lives in the shared `metadata` (migration 0006).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, Integer, PrimaryKeyConstraint, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import READONLY
from storage.dialect import insert_for
from storage.schema import Tenant, UTCDateTime, metadata

slack_home_openers = Table(
    "slack_home_openers",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("page", Integer, nullable=False),  # the page of "waiting on you" they last saw
    Column("opened_at", UTCDateTime, nullable=False),  # when they last opened or paged it
    PrimaryKeyConstraint("tenant_id", "user_id"),
)

IN_CHUNK = 500  # users per IN (...) list: well under either driver's parameter limit


class SqlHomeOpeners:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def opened(self, tenant_id: str, user: str, page: int, at: datetime) -> None:
        insert = insert_for(self._engine.dialect.name)
        statement = insert(slack_home_openers).values(
            tenant_id=tenant_id, user_id=user, page=page, opened_at=at
        )
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "user_id"], set_={"page": page, "opened_at": at}
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def page(self, tenant_id: str, user: str) -> int | None:
        h = slack_home_openers.c
        query = select(h.page).where(h.tenant_id == tenant_id, h.user_id == user)
        async with self._reader.connect() as conn:
            page = (await conn.execute(query)).scalar()
        return None if page is None else int(page)

    async def among(self, tenant_id: str, users: Iterable[str]) -> set[str]:
        h = slack_home_openers.c
        wanted = sorted(set(users))
        found: set[str] = set()
        async with self._reader.connect() as conn:
            for i in range(0, len(wanted), IN_CHUNK):
                query = select(h.user_id).where(
                    h.tenant_id == tenant_id, h.user_id.in_(wanted[i : i + IN_CHUNK])
                )
                found.update(str(u) for u in (await conn.execute(query)).scalars())
        return found
