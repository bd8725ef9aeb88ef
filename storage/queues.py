"""The outbox and the timers: rows claimed with a lease by one UPDATE ... RETURNING.

On PostgreSQL the candidate rows are picked `FOR UPDATE SKIP LOCKED`, so concurrent claimers
pass over each other's rows instead of waiting; SQLite has a single writer (every write
transaction begins IMMEDIATE), so the same statement is atomic there without the clause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine import schedules
from engine.commands import COMMAND_ADAPTER, Timer
from engine.ports import DeadCommand, OutboxItem
from storage.database import READONLY, one_statement
from storage.dialect import insert_for
from storage.schema import UTCDateTime, outbox, timers

# Built once: the claims run every poll, and a prebuilt statement skips construction and
# cache-key work. Candidates are picked FOR UPDATE SKIP LOCKED (a no-op on SQLite).
_o, _t = outbox.c, timers.c
_CLAIM_COMMANDS = (
    update(outbox)
    .where(
        _o.id.in_(
            select(_o.id)
            .where(
                _o.done_at.is_(None),
                _o.dead_at.is_(None),
                _o.available_at <= bindparam("now", type_=UTCDateTime),
                or_(_o.locked_until.is_(None), _o.locked_until <= bindparam("now")),
            )
            .order_by(_o.id)
            .limit(bindparam("n", type_=Integer))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(locked_until=bindparam("until"), attempts=_o.attempts + 1)
    .returning(_o.id, _o.payload, _o.attempts)
)
_CLAIM_TIMERS = (
    update(timers)
    .where(
        _t.id.in_(
            select(_t.id)
            .where(
                _t.due_at <= bindparam("now", type_=UTCDateTime),
                or_(_t.locked_until.is_(None), _t.locked_until <= bindparam("now")),
            )
            .order_by(_t.due_at, _t.id)
            .limit(bindparam("n", type_=Integer))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(locked_until=bindparam("until"))
    .returning(_t.id, _t.tenant_id, _t.run_id, _t.due_at, _t.kind, _t.step_id, _t.attempt)
)


_COMPLETE_MANY = (
    update(outbox)
    .where(_o.key.in_(bindparam("keys", expanding=True)), _o.done_at.is_(None))
    .values(done_at=func.now(), locked_until=None)
)


class SqlOutbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)
        self._write = one_statement(engine)  # each of these writes is a single statement

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
        params = {"now": now, "n": limit, "until": now + lease}
        async with self._write() as conn:
            rows = (await conn.execute(_CLAIM_COMMANDS, params)).all()
        return [
            OutboxItem(row.id, COMMAND_ADAPTER.validate_json(row.payload), row.attempts - 1)
            for row in sorted(rows, key=lambda r: r.id)
        ]

    async def complete(self, key: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.key == key, outbox.c.done_at.is_(None))
                .values(done_at=func.now(), locked_until=None)
            )

    async def complete_many(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        async with self._write() as conn:
            await conn.execute(_COMPLETE_MANY, {"keys": list(keys)})

    async def retry_later(
        self, key: str, at: datetime, error: str, *, counted: bool = True
    ) -> None:
        o = outbox.c
        values: dict[str, Any] = {"available_at": at, "locked_until": None, "last_error": error}
        if not counted:  # put off, not failed: the claim is taken back
            values["attempts"] = case((o.attempts > 0, o.attempts - 1), else_=0)
        async with self._write() as conn:
            await conn.execute(
                update(outbox).where(o.key == key, o.done_at.is_(None)).values(**values)
            )

    async def pending_count(self, now: datetime) -> tuple[int, float]:
        o = outbox.c
        query = select(func.count(), func.min(case((o.available_at <= now, o.available_at)))).where(
            o.done_at.is_(None), o.dead_at.is_(None)
        )
        async with self._reader.connect() as conn:
            count, oldest = (await conn.execute(query)).one()
        return count, (now - oldest).total_seconds() if oldest is not None else 0.0

    # ------------------------------------------------------------ dead commands

    async def bury(self, key: str, at: datetime, error: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.key == key, outbox.c.done_at.is_(None))
                .values(dead_at=at, locked_until=None, last_error=error)
            )

    async def dead(self, tenant_id: str | None = None, limit: int = 100) -> list[DeadCommand]:
        o = outbox.c
        query = select(o.id, o.payload, o.attempts, o.last_error, o.dead_at).where(
            o.dead_at.is_not(None), o.done_at.is_(None)
        )
        if tenant_id is not None:
            query = query.where(o.tenant_id == tenant_id)
        query = query.order_by(o.dead_at.desc(), o.id.desc()).limit(limit)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_dead(r.id, r.payload, r.attempts, r.last_error, r.dead_at) for r in rows]

    async def revive(self, command_id: int, now: datetime) -> DeadCommand | None:
        o = outbox.c
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(o.id, o.payload, o.attempts, o.last_error, o.dead_at)
                    .where(o.id == command_id, o.dead_at.is_not(None), o.done_at.is_(None))
                    .with_for_update()
                )
            ).one_or_none()
            if row is None:
                return None
            await conn.execute(
                update(outbox)
                .where(o.id == command_id)
                .values(dead_at=None, available_at=now, locked_until=None, attempts=0)
            )
        return _dead(row.id, row.payload, row.attempts, row.last_error, row.dead_at)


def _dead(
    command_id: int, payload: str, attempts: int, error: str | None, dead_at: datetime
) -> DeadCommand:
    command = COMMAND_ADAPTER.validate_json(payload)
    return DeadCommand(
        id=command_id,
        tenant_id=command.tenant_id,
        run_id=command.run_id,
        step_id=getattr(command, "step_id", None),
        type=command.type,
        attempts=attempts,
        last_error=error,
        dead_at=dead_at,
    )


class SqlTimerStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)
        self._write = one_statement(engine)  # each of these writes is a single statement

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Timer]:
        params = {"now": now, "n": limit, "until": now + lease}
        async with self._write() as conn:
            rows = (await conn.execute(_CLAIM_TIMERS, params)).all()
        found = [
            Timer(
                id=r.id,
                tenant_id=r.tenant_id,
                run_id=r.run_id,
                due_at=r.due_at,
                kind=r.kind,
                step_id=r.step_id,
                attempt=r.attempt,
            )
            for r in rows
        ]
        return sorted(found, key=lambda timer: (timer.due_at, timer.id))

    async def drop(self, timer_id: str) -> None:
        async with self._write() as conn:
            await conn.execute(delete(timers).where(timers.c.id == timer_id))

    async def next_due(self) -> datetime | None:
        """The earliest moment a timer can be claimed: its due_at, or the end of the lease of a
        claimed one (so a wake-up scheduler never spins on a timer someone holds)."""
        t = timers.c
        claimable_at = case(
            (t.locked_until.is_not(None) & (t.locked_until > t.due_at), t.locked_until),
            else_=t.due_at,
        )
        async with self._reader.connect() as conn:
            found: datetime | None = (await conn.execute(select(func.min(claimable_at)))).scalar()
        return found

    # ------------------------------------------------------------ schedules

    async def arm_schedule(self, tenant_id: str, workflow: str, due_at: datetime | None) -> None:
        timer_id = schedules.timer_id(tenant_id, workflow)
        async with self._engine.begin() as conn:
            if due_at is None:
                await conn.execute(delete(timers).where(timers.c.id == timer_id))
                return
            row = schedules.timer(tenant_id, workflow, due_at).model_dump()
            insert = insert_for(self._engine.dialect.name)(timers).values(**row, locked_until=None)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[timers.c.id],
                    set_={"due_at": insert.excluded.due_at, "locked_until": None},
                )
            )

    async def advance_schedule(self, timer: Timer, due_at: datetime | None) -> bool:
        # Compare-and-set on due_at: a re-arm (a new version, enable) since the claim wins.
        t = timers.c
        same = (t.id == timer.id, t.due_at == timer.due_at)
        async with self._engine.begin() as conn:
            if due_at is None:
                result = await conn.execute(delete(timers).where(*same))
            else:
                result = await conn.execute(
                    update(timers).where(*same).values(due_at=due_at, locked_until=None)
                )
        return bool(result.rowcount)

    async def schedules(self, tenant_id: str) -> dict[str, datetime]:
        t = timers.c
        query = select(t.step_id, t.due_at).where(
            t.tenant_id == tenant_id, t.kind == schedules.TIMER_KIND
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.step_id: row.due_at for row in rows}

    async def all_schedules(self) -> dict[tuple[str, str], datetime]:
        t = timers.c
        query = select(t.tenant_id, t.step_id, t.due_at).where(t.kind == schedules.TIMER_KIND)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(row.tenant_id, row.step_id): row.due_at for row in rows}

    async def arm_schedule_if_missing(
        self, tenant_id: str, workflow: str, due_at: datetime
    ) -> bool:
        row = schedules.timer(tenant_id, workflow, due_at).model_dump()
        insert = insert_for(self._engine.dialect.name)(timers).values(**row, locked_until=None)
        async with self._write() as conn:
            result = await conn.execute(insert.on_conflict_do_nothing(index_elements=[timers.c.id]))
        return bool(result.rowcount)
