"""Writing a batch of run changes: first a plan (the rows each table gets), then its execution.

Every round trip costs more than the SQL it carries, so the plan has one entry per kind of row
for the whole batch. On PostgreSQL `storage.commit_pg` sends all of it as one statement; SQLite
has no DML in CTEs, so `SequentialWriter` runs one statement (executemany) per entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.audit.chain import GENESIS, event_hash
from engine.commands import Timer
from engine.errors import ConcurrencyConflict
from engine.pending import pending_rows
from engine.ports import RunChange
from engine.state import RunState
from storage.dialect import insert_for
from storage.schema import events, outbox, pending_tasks, run_participants, runs, steps, timers

HUMAN_STEPS = frozenset({"approval", "input"})
RUN_FIELDS = (
    "status",
    "current_step",
    "updated_at",
    "finished_at",
    "seq",
    "state",
    "head_hash",
)
STEP_FIELDS = ("type", "status", "attempt", "outcome", "started_at", "finished_at")
TIMER_FIELDS = ("tenant_id", "run_id", "due_at", "kind", "step_id", "attempt", "locked_until")
PENDING_FIELDS = ("kind", "workflow", "requester", "since")
PARTICIPANT_KEY = ["tenant_id", "principal", "started_at", "run_id"]

Run = tuple[str, str]


@dataclass
class CommitPlan:
    new_runs: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # b_tenant, b_run, b_expected
    events: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    pending_runs: list[Run] = field(default_factory=list)  # runs whose pending rows are redone
    pending: list[dict[str, Any]] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)  # added, never removed
    people: dict[Run, frozenset[str]] = field(default_factory=dict)  # each run's, once written
    outbox: list[dict[str, Any]] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)  # b_key, done_at
    dropped_timers: list[tuple[str, str]] = field(default_factory=list)  # (tenant, id)
    armed_timers: list[dict[str, Any]] = field(default_factory=list)
    heads: dict[Run, tuple[int, str]] = field(default_factory=dict)  # (seq, hash) reached


def heads_needed(changes: Sequence[RunChange]) -> dict[Run, int]:
    """The runs whose head hash the plan needs (existing runs), with the seq it must be at."""
    out: dict[Run, int] = {}
    for change in changes:
        run = (change.state.tenant_id, change.state.run_id)
        if change.expected_seq != 0:
            out.setdefault(run, change.expected_seq)
        else:
            out.setdefault(run, 0)
    return {run: seq for run, seq in out.items() if seq != 0}


def _run_values(state: RunState) -> dict[str, Any]:
    return {
        "status": state.status,
        "current_step": state.current_step,
        "updated_at": state.updated_at,
        "finished_at": state.finished_at,
        "seq": state.seq,
        "state": state.model_dump_json(exclude_defaults=True),
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


def plan_commit(
    changes: Sequence[RunChange],
    heads: Mapping[Run, str] | None = None,
    people: Mapping[Run, frozenset[str]] | None = None,
    *,
    chain: bool = True,
) -> CommitPlan:
    """The rows to write. Several changes of one run collapse into one run row write (they must
    chain: each expects the seq the previous one reached), touched steps accumulate, and timers
    get their net effect in order (consumed, cancelled, then armed). `heads` gives each existing
    run's head hash at the seq its first change expects (see `heads_needed`): every event's hash
    chains to it. Without `chain` (only `bench.engine`, to measure the chain's cost) no event is
    hashed. `people` gives, for runs this process wrote them for, the participants already in
    `run_participants`: only newcomers get a row (a decision by someone already asked writes
    none); a run not given writes all its participants, which the table ignores when already
    there."""
    plan = CommitPlan()
    written = people or {}
    known: dict[Run, str | None] = dict(heads or {})
    first: dict[Run, RunChange] = {}
    final: dict[Run, RunState] = {}
    touched: dict[Run, set[str] | None] = {}
    net_timers: dict[str, tuple[str, Timer | None]] = {}
    for change in changes:
        state = change.state
        run = (state.tenant_id, state.run_id)
        if run in final and change.expected_seq != final[run].seq:
            raise ConcurrencyConflict()  # the batch itself does not chain
        first.setdefault(run, change)
        final[run] = state
        step_ids, before = _touched_steps(change), touched.get(run, set())
        touched[run] = None if step_ids is None or before is None else before | step_ids
        prev: str | None = None
        if chain:
            prev = GENESIS if change.expected_seq == 0 else known[run]
        for offset, event in enumerate(change.decision.events, start=1):
            seq, data = change.expected_seq + offset, event.model_dump_json()
            digest = None if prev is None else event_hash(run[0], run[1], seq, prev, data)
            plan.events.append(
                {
                    "tenant_id": run[0],
                    "run_id": run[1],
                    "seq": seq,
                    "type": event.type,
                    "data": data,
                    "at": event.at,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        known[run] = prev
        if prev is not None:
            plan.heads[run] = (state.seq, prev)
        plan.outbox.extend(
            {
                "key": command.key,
                "tenant_id": command.tenant_id,
                "run_id": command.run_id,
                "type": command.type,
                "payload": command.model_dump_json(by_alias=True),
                "available_at": state.updated_at,
                # Queued already claimed by the committing process (see RunChange).
                "locked_until": change.commands_leased_until,
                "attempts": 0 if change.commands_leased_until is None else 1,
            }
            for command in change.decision.commands
        )
        if change.done_command is not None:
            plan.done.append({"b_key": change.done_command, "done_at": state.updated_at})
        gone = [change.fired_timer] if change.fired_timer is not None else []
        for timer_id in [*gone, *change.decision.cancel_timers]:
            net_timers[timer_id] = (run[0], None)
        for timer in change.decision.timers:
            net_timers[timer.id] = (timer.tenant_id, timer)
    # Runs in key order, so that concurrent batches lock their rows in the same order.
    for run, change in sorted(first.items()):
        state = final[run]
        if change.expected_seq == 0:
            plan.new_runs.append(
                {
                    "tenant_id": run[0],
                    "run_id": run[1],
                    "workflow": state.workflow,
                    "version": state.version,
                    "requester": state.requester,
                    "started_at": state.started_at,
                    "idempotency_key": change.idempotency_key,
                    "request_hash": change.request_hash,
                    **_run_values(state),
                    "head_hash": known[run],
                }
            )
        else:
            plan.updates.append(
                {"b_tenant": run[0], "b_run": run[1], "b_expected": change.expected_seq}
                | _run_values(state)
                | {"head_hash": known[run]}
            )
        ids = touched[run]
        chosen = state.steps.values() if ids is None else [state.steps[i] for i in ids]
        plan.steps.extend(
            {"tenant_id": run[0], "run_id": run[1], "step_id": s.id}
            | {name: getattr(s, name) for name in STEP_FIELDS}
            for s in chosen
        )
        if ids is None or any(state.steps[i].type in HUMAN_STEPS for i in ids):
            plan.pending_runs.append(run)
            plan.pending.extend(
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
                for p in pending_rows(state)
            )
            # Only a human step (or a new run) brings people into a run.
            everyone = frozenset(state.participants())
            plan.people[run] = everyone
            plan.participants.extend(
                {
                    "tenant_id": run[0],
                    "principal": who,
                    "started_at": state.started_at,
                    "run_id": run[1],
                }
                for who in sorted(everyone - written.get(run, frozenset()))
            )
    for timer_id, (tenant, armed) in net_timers.items():
        if armed is None:
            plan.dropped_timers.append((tenant, timer_id))
        else:
            plan.armed_timers.append(
                {
                    "id": armed.id,
                    "tenant_id": armed.tenant_id,
                    "run_id": armed.run_id,
                    "due_at": armed.due_at,
                    "kind": armed.kind,
                    "step_id": armed.step_id,
                    "attempt": armed.attempt,
                    "locked_until": None,
                }
            )
    return plan


_UPDATE_RUN = (
    update(runs)
    .where(
        runs.c.tenant_id == bindparam("b_tenant"),
        runs.c.run_id == bindparam("b_run"),
        runs.c.seq == bindparam("b_expected"),
    )
    .values({name: bindparam(name) for name in RUN_FIELDS})
)
_MARK_DONE = (
    update(outbox)
    .where(outbox.c.key == bindparam("b_key"), outbox.c.done_at.is_(None))
    .values(done_at=bindparam("done_at"), locked_until=None)
)


def upserts(dialect_name: str, steps_rows: Any, timer_rows: Any, pending_rows: Any) -> Any:
    """The three upserts, for rows given either as executemany lists (None here) or inline."""
    insert = insert_for(dialect_name)
    out = []
    for table, rows, keys, fields in (
        (steps, steps_rows, ["tenant_id", "run_id", "step_id"], STEP_FIELDS),
        (timers, timer_rows, ["id"], TIMER_FIELDS),
        (
            pending_tasks,
            pending_rows,
            ["tenant_id", "run_id", "step_id", "principal"],
            PENDING_FIELDS,
        ),
    ):
        stmt = insert(table) if rows is None else insert(table).values(rows)
        out.append(
            stmt.on_conflict_do_update(
                index_elements=keys, set_={name: stmt.excluded[name] for name in fields}
            )
        )
    return out


class SequentialWriter:
    """One statement per entry of the plan (executemany); any dialect, used for SQLite."""

    def __init__(self, dialect_name: str) -> None:
        self._upsert_steps, self._upsert_timers, _ = upserts(dialect_name, None, None, None)
        # A command already queued under the same idempotency key is the same command.
        self._insert_outbox = insert_for(dialect_name)(outbox).on_conflict_do_nothing(
            index_elements=["key"]
        )
        self._insert_participants = insert_for(dialect_name)(
            run_participants
        ).on_conflict_do_nothing(index_elements=PARTICIPANT_KEY)

    async def write(self, conn: AsyncConnection, plan: CommitPlan) -> None:
        if plan.new_runs:
            await conn.execute(runs.insert(), plan.new_runs)
        if plan.updates:
            # Every guarded update must reach its row (one writer at a time: no lock order).
            reached = (await conn.execute(_UPDATE_RUN, plan.updates)).rowcount
            if reached != len(plan.updates):
                raise ConcurrencyConflict()
        if plan.events:
            await conn.execute(events.insert(), plan.events)
        if plan.steps:
            await conn.execute(self._upsert_steps, plan.steps)
        if plan.pending_runs:
            await conn.execute(
                delete(pending_tasks).where(
                    tuple_(pending_tasks.c.tenant_id, pending_tasks.c.run_id).in_(plan.pending_runs)
                )
            )
        if plan.pending:
            await conn.execute(pending_tasks.insert(), plan.pending)
        if plan.participants:
            await conn.execute(self._insert_participants, plan.participants)
        if plan.outbox:
            await conn.execute(self._insert_outbox, plan.outbox)
        if plan.done:
            await conn.execute(_MARK_DONE, plan.done)
        if plan.dropped_timers:
            await conn.execute(
                delete(timers).where(
                    tuple_(timers.c.tenant_id, timers.c.id).in_(plan.dropped_timers)
                )
            )
        if plan.armed_timers:
            await conn.execute(self._upsert_timers, plan.armed_timers)
