"""The run store: events appended under optimistic concurrency, with the run, step and pending-task
projections, the outbox and the timers written in the same transaction.

`commit` is the hot path, so it batches: one statement per kind of row for the whole batch
(executemany), plus one guarded UPDATE per existing run whose row count detects a lost race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.commands import Timer
from engine.errors import ConcurrencyConflict, DuplicateRun, NotFound
from engine.events import EVENT_ADAPTER
from engine.memory import check_change, decode_cursor, encode_cursor, pending_rows
from engine.ports import PendingTask, RecordedEvent, RunChange, RunPage
from engine.state import RunState
from storage.database import READONLY
from storage.dialect import insert_for, is_unique_violation
from storage.schema import events, outbox, pending_tasks, runs, steps, timers

HUMAN_STEPS = frozenset({"approval", "input"})

_UPDATE_RUN = (
    update(runs)
    .where(
        runs.c.tenant_id == bindparam("b_tenant"),
        runs.c.run_id == bindparam("b_run"),
        runs.c.seq == bindparam("b_expected"),
    )
    .values(
        status=bindparam("status"),
        current_step=bindparam("current_step"),
        updated_at=bindparam("updated_at"),
        finished_at=bindparam("finished_at"),
        seq=bindparam("seq"),
        state=bindparam("state"),
    )
)
_MARK_DONE = (
    update(outbox)
    .where(outbox.c.key == bindparam("b_key"), outbox.c.done_at.is_(None))
    .values(done_at=bindparam("done_at"), locked_until=None)
)


def _run_values(state: RunState) -> dict[str, Any]:
    return {
        "status": state.status,
        "current_step": state.current_step,
        "updated_at": state.updated_at,
        "finished_at": state.finished_at,
        "seq": state.seq,
        "state": state.model_dump_json(),
    }


def _touched_steps(change: RunChange) -> set[str] | None:
    """The steps whose projection this change may alter; None when it may alter any (a new run,
    or a run-level event such as cancel or compensation)."""
    if change.expected_seq == 0:
        return None
    touched: set[str] = set()
    for event in change.decision.events:
        step_id = getattr(event, "step_id", None)
        if step_id is None:
            return None
        touched.add(step_id)
    return touched


class SqlRunStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)
        insert = insert_for(engine.dialect.name)
        upsert_steps = insert(steps)
        self._upsert_steps = upsert_steps.on_conflict_do_update(
            index_elements=["tenant_id", "run_id", "step_id"],
            set_={
                c: upsert_steps.excluded[c]
                for c in ("type", "status", "attempt", "outcome", "started_at", "finished_at")
            },
        )
        upsert_timers = insert(timers)
        self._upsert_timers = upsert_timers.on_conflict_do_update(
            index_elements=["id"],
            set_={
                **{
                    c: upsert_timers.excluded[c]
                    for c in ("tenant_id", "run_id", "due_at", "kind", "step_id", "attempt")
                },
                "locked_until": None,
            },
        )
        # A command already queued under the same idempotency key is the same command.
        self._insert_outbox = insert(outbox).on_conflict_do_nothing(index_elements=["key"])

    async def load(self, tenant_id: str, run_id: str) -> RunState:
        query = select(runs.c.state).where(runs.c.tenant_id == tenant_id, runs.c.run_id == run_id)
        async with self._reader.connect() as conn:
            data = (await conn.execute(query)).scalar_one_or_none()
        if data is None:
            raise NotFound(f"no run {run_id!r} in this workspace")
        return RunState.model_validate_json(data)

    async def commit(self, changes: Sequence[RunChange]) -> None:
        if not changes:
            return
        for change in changes:
            check_change(change)
        try:
            async with self._engine.begin() as conn:
                await self._write(conn, changes)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            await self._raise_duplicate(changes)
            raise ConcurrencyConflict() from None

    async def _write(self, conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
        # One row write per run, whatever the number of its changes in the batch: a new run is
        # inserted with its final state, an existing one updated from its first expected seq.
        first: dict[tuple[str, str], RunChange] = {}
        final: dict[tuple[str, str], RunState] = {}
        for change in changes:
            run = (change.state.tenant_id, change.state.run_id)
            if run in final and change.expected_seq != final[run].seq:
                raise ConcurrencyConflict()  # the batch itself does not chain
            first.setdefault(run, change)
            final[run] = change.state
        new_runs = [
            {
                "tenant_id": run[0],
                "run_id": run[1],
                "workflow": final[run].workflow,
                "version": final[run].version,
                "requester": final[run].requester,
                "started_at": final[run].started_at,
                "idempotency_key": c.idempotency_key,
                **_run_values(final[run]),
            }
            for run, c in first.items()
            if c.expected_seq == 0
        ]
        if new_runs:
            await conn.execute(runs.insert(), new_runs)
        updates = [
            {
                "b_tenant": run[0],
                "b_run": run[1],
                "b_expected": c.expected_seq,
                **_run_values(final[run]),
            }
            for run, c in first.items()
            if c.expected_seq != 0
        ]
        if len(updates) == 1:
            if (await conn.execute(_UPDATE_RUN, updates[0])).rowcount != 1:
                raise ConcurrencyConflict()
        elif updates:
            # Lock the batch's runs (in key order, so concurrent batches cannot deadlock) and
            # check their seqs once; then one pipelined executemany of the guarded UPDATE.
            keys = sorted((u["b_tenant"], u["b_run"]) for u in updates)
            locked = await conn.execute(
                select(runs.c.tenant_id, runs.c.run_id, runs.c.seq)
                .where(tuple_(runs.c.tenant_id, runs.c.run_id).in_(keys))
                .order_by(runs.c.tenant_id, runs.c.run_id)
                .with_for_update()
            )
            current = {(r.tenant_id, r.run_id): r.seq for r in locked}
            if any(current.get((u["b_tenant"], u["b_run"])) != u["b_expected"] for u in updates):
                raise ConcurrencyConflict()
            await conn.execute(_UPDATE_RUN, updates)
        event_rows = [
            {
                "tenant_id": c.state.tenant_id,
                "run_id": c.state.run_id,
                "seq": c.expected_seq + offset,
                "type": event.type,
                "data": event.model_dump_json(),
                "at": event.at,
            }
            for c in changes
            for offset, event in enumerate(c.decision.events, start=1)
        ]
        if event_rows:
            await conn.execute(events.insert(), event_rows)
        await self._write_projections(conn, changes)
        await self._write_outbox(conn, changes)
        await self._write_timers(conn, changes)

    async def _write_projections(self, conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
        # The last change of a run holds its final state; touched steps accumulate over the batch.
        final: dict[tuple[str, str], RunState] = {}
        touched: dict[tuple[str, str], set[str] | None] = {}
        for change in changes:
            run = (change.state.tenant_id, change.state.run_id)
            final[run] = change.state
            step_ids = _touched_steps(change)
            before = touched.get(run, set())
            touched[run] = None if step_ids is None or before is None else before | step_ids
        step_rows: list[dict[str, Any]] = []
        rewrite_pending: list[tuple[str, str]] = []
        for run, state in final.items():
            ids = touched[run]
            chosen = state.steps.values() if ids is None else [state.steps[i] for i in ids]
            step_rows.extend(
                {
                    "tenant_id": run[0],
                    "run_id": run[1],
                    "step_id": s.id,
                    "type": s.type,
                    "status": s.status,
                    "attempt": s.attempt,
                    "outcome": s.outcome,
                    "started_at": s.started_at,
                    "finished_at": s.finished_at,
                }
                for s in chosen
            )
            if ids is None or any(state.steps[i].type in HUMAN_STEPS for i in ids):
                rewrite_pending.append(run)
        if step_rows:
            await conn.execute(self._upsert_steps, step_rows)
        if not rewrite_pending:
            return
        await conn.execute(
            delete(pending_tasks).where(
                tuple_(pending_tasks.c.tenant_id, pending_tasks.c.run_id).in_(rewrite_pending)
            )
        )
        pending = [
            {
                "tenant_id": p.tenant_id,
                "run_id": p.run_id,
                "step_id": p.step_id,
                "principal": p.principal,
                "kind": p.kind,
                "workflow": p.workflow,
                "requester": p.requester,
                "since": p.since,
            }
            for run in rewrite_pending
            for p in pending_rows(final[run])
        ]
        if pending:
            await conn.execute(pending_tasks.insert(), pending)

    async def _write_outbox(self, conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
        rows = [
            {
                "key": command.key,
                "tenant_id": command.tenant_id,
                "run_id": command.run_id,
                "type": command.type,
                "payload": command.model_dump_json(by_alias=True),
                "available_at": c.state.updated_at,
                "attempts": 0,
            }
            for c in changes
            for command in c.decision.commands
        ]
        if rows:
            await conn.execute(self._insert_outbox, rows)
        done = [
            {"b_key": c.done_command, "done_at": c.state.updated_at}
            for c in changes
            if c.done_command is not None
        ]
        if done:
            await conn.execute(_MARK_DONE, done)

    async def _write_timers(self, conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
        # The net effect over the batch, in order: consumed and cancelled first, then armed.
        net: dict[str, tuple[str, Timer | None]] = {}
        for change in changes:
            tenant = change.state.tenant_id
            gone = [change.fired_timer] if change.fired_timer is not None else []
            for timer_id in [*gone, *change.decision.cancel_timers]:
                net[timer_id] = (tenant, None)
            for timer in change.decision.timers:
                net[timer.id] = (timer.tenant_id, timer)
        dropped = [(tenant, timer_id) for timer_id, (tenant, t) in net.items() if t is None]
        armed = [t for _, t in net.values() if t is not None]
        if dropped:
            await conn.execute(
                delete(timers).where(tuple_(timers.c.tenant_id, timers.c.id).in_(dropped))
            )
        if armed:
            await conn.execute(self._upsert_timers, [_timer_row(t) for t in armed])

    async def _raise_duplicate(self, changes: Iterable[RunChange]) -> None:
        for change in changes:
            if change.expected_seq != 0 or change.idempotency_key is None:
                continue
            state = change.state
            existing = await self.run_for_idempotency_key(state.tenant_id, change.idempotency_key)
            if existing is not None and existing != state.run_id:
                raise DuplicateRun(existing)

    async def events(self, tenant_id: str, run_id: str) -> list[RecordedEvent]:
        query = (
            select(events.c.seq, events.c.data)
            .where(events.c.tenant_id == tenant_id, events.c.run_id == run_id)
            .order_by(events.c.seq)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            raise NotFound(f"no run {run_id!r} in this workspace")
        return [
            RecordedEvent(tenant_id, run_id, row.seq, EVENT_ADAPTER.validate_json(row.data))
            for row in rows
        ]

    async def list_runs(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        requester: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        query = select(runs.c.state).where(runs.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(runs.c.status == status)
        if workflow is not None:
            query = query.where(runs.c.workflow == workflow)
        if requester is not None:
            query = query.where(runs.c.requester == requester)
        if cursor is not None:
            started_at, run_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    runs.c.started_at < started_at,
                    and_(runs.c.started_at == started_at, runs.c.run_id < run_id),
                )
            )
        query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit + 1)
        async with self._reader.connect() as conn:
            found = [RunState.model_validate_json(d) for d in (await conn.scalars(query)).all()]
        page = found[:limit]
        more = len(found) > limit and bool(page)
        return RunPage(
            runs=page,
            next_cursor=encode_cursor(page[-1].started_at, page[-1].run_id) if more else None,
        )

    async def pending_tasks(
        self, tenant_id: str, principal: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[PendingTask]:
        p = pending_tasks.c
        query = select(pending_tasks).where(p.tenant_id == tenant_id)
        if principal is not None:
            query = query.where(p.principal == principal)
        query = (
            query.order_by(p.since, p.run_id, p.step_id, p.principal).limit(limit).offset(offset)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            PendingTask(
                tenant_id=r.tenant_id,
                run_id=r.run_id,
                step_id=r.step_id,
                principal=r.principal,
                kind=r.kind,
                workflow=r.workflow,
                requester=r.requester,
                since=r.since,
            )
            for r in rows
        ]

    async def run_for_idempotency_key(self, tenant_id: str, key: str) -> str | None:
        query = select(runs.c.run_id).where(
            runs.c.tenant_id == tenant_id, runs.c.idempotency_key == key
        )
        async with self._reader.connect() as conn:
            found: str | None = (await conn.execute(query)).scalar_one_or_none()
        return found


def _timer_row(timer: Timer) -> dict[str, Any]:
    return {
        "id": timer.id,
        "tenant_id": timer.tenant_id,
        "run_id": timer.run_id,
        "due_at": timer.due_at,
        "kind": timer.kind,
        "step_id": timer.step_id,
        "attempt": timer.attempt,
        "locked_until": None,
    }
