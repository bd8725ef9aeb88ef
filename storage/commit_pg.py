"""PostgreSQL: a whole commit plan as ONE statement of data-modifying CTEs (plus BEGIN and
COMMIT), instead of a round trip per kind of row.

Each kind of row travels as one array parameter per column and is spread back into rows by
`unnest`, so the SQL text is the same for every plan, whatever its row counts: it is built once
from the table definitions, prepared once per connection by asyncpg, and never compiled again.
Empty arrays make their CTE a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, String, Table, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.errors import ConcurrencyConflict
from storage.commit import (
    PARTICIPANT_KEY,
    PENDING_FIELDS,
    RUN_FIELDS,
    STEP_FIELDS,
    TIMER_FIELDS,
    CommitPlan,
)
from storage.schema import events, outbox, pending_tasks, run_participants, runs, steps, timers

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
GUARD_FAILED = "22012"  # division_by_zero: a guarded run update did not reach its row

# The columns each plan entry carries, in the order of their array parameters.
NEW_RUN_COLUMNS = (
    "tenant_id",
    "run_id",
    "workflow",
    "version",
    "requester",
    "started_at",
    "idempotency_key",
    "request_hash",
    *RUN_FIELDS,
)
EVENT_COLUMNS = ("tenant_id", "run_id", "seq", "type", "data", "at", "prev_hash", "hash")
STEP_COLUMNS = ("tenant_id", "run_id", "step_id", *STEP_FIELDS)
PENDING_KEY = ("tenant_id", "run_id", "step_id", "principal")
PENDING_COLUMNS = (*PENDING_KEY, *PENDING_FIELDS)
OUTBOX_COLUMNS = (
    "key",
    "tenant_id",
    "run_id",
    "type",
    "payload",
    "available_at",
    "locked_until",
    "attempts",
)
TIMER_COLUMNS = ("id", *TIMER_FIELDS)


def _array_type(column: Column[Any]) -> str:
    """The array type a column's values travel as. Without the length of a VARCHAR(n): a cast
    to it would cut a longer value silently, where the column itself refuses it."""
    if isinstance(column.type, String) and not isinstance(column.type, Text):
        return "VARCHAR[]"
    return f"{column.type.compile(dialect=_DIALECT)}[]"


class _Params:
    """Numbers the array parameters ($1, $2, ...) as the SQL is written, and remembers which
    plan entry and column fills each."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, str]] = []  # (plan entry, column) per parameter

    def arrays(self, table: Table, entry: str, columns: Sequence[str], alias: str) -> str:
        """`unnest($a::type[], $b::type[], ...) AS alias(columns)`."""
        casts = []
        for name in columns:
            self.sources.append((entry, name))
            casts.append(f"${len(self.sources)}::{_array_type(table.c[name])}")
        return f"unnest({', '.join(casts)}) AS {alias}({', '.join(columns)})"


def _insert(p: _Params, table: Table, entry: str, columns: Sequence[str]) -> str:
    cols = ", ".join(columns)
    rows = p.arrays(table, entry, columns, "x")
    return f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {rows}"


def _upsert(
    p: _Params, table: Table, entry: str, columns: Sequence[str], key: Sequence[str]
) -> str:
    sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns if name not in key)
    return (
        f"{_insert(p, table, entry, columns)} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def build_statement() -> tuple[str, list[tuple[str, str]]]:
    """The commit statement and, for each of its parameters, the (plan entry, column) it holds.
    The CTEs run on one snapshot and must not touch a row twice: pending rows are upserted and
    only the stale ones deleted; a timer is either dropped or armed (the plan nets them)."""
    p = _Params()
    update_columns = ("b_tenant", "b_run", "b_expected", *RUN_FIELDS)
    update_types = {"b_tenant": "tenant_id", "b_run": "run_id", "b_expected": "seq"}
    casts = []
    for name in update_columns:
        p.sources.append(("updates", name))
        column = runs.c[update_types.get(name, name)]
        casts.append(f"${len(p.sources)}::{_array_type(column)}")
    sets = ", ".join(f"{name} = u.{name}" for name in RUN_FIELDS)
    ctes = [
        (
            "w_runs",
            f"UPDATE runs SET {sets} "
            f"FROM unnest({', '.join(casts)}) AS u({', '.join(update_columns)}) "
            "WHERE runs.tenant_id = u.b_tenant AND runs.run_id = u.b_run "
            "AND runs.seq = u.b_expected RETURNING runs.run_id",
        ),
        ("w_new_runs", _insert(p, runs, "new_runs", NEW_RUN_COLUMNS)),
        ("w_events", _insert(p, events, "events", EVENT_COLUMNS)),
        ("w_steps", _upsert(p, steps, "steps", STEP_COLUMNS, STEP_COLUMNS[:3])),
    ]
    redone = p.arrays(pending_tasks, "pending_runs", ("tenant_id", "run_id"), "r")
    # The rows to keep are exactly the ones upserted below: the same arrays, numbered again.
    keep = p.arrays(pending_tasks, "pending", PENDING_KEY, "k")
    ctes.append(
        (
            "w_stale_pending",
            f"DELETE FROM pending_tasks t USING {redone} "
            "WHERE t.tenant_id = r.tenant_id AND t.run_id = r.run_id AND NOT EXISTS ("
            f"SELECT 1 FROM {keep} WHERE k.tenant_id = t.tenant_id AND k.run_id = t.run_id "
            "AND k.step_id = t.step_id AND k.principal = t.principal)",
        )
    )
    ctes.append(("w_pending", _upsert(p, pending_tasks, "pending", PENDING_COLUMNS, PENDING_KEY)))
    ctes.append(
        (
            "w_participants",
            f"{_insert(p, run_participants, 'participants', PARTICIPANT_KEY)} "
            "ON CONFLICT DO NOTHING",
        )
    )
    ctes.append(
        (
            "w_outbox",
            f"{_insert(p, outbox, 'outbox', OUTBOX_COLUMNS)} ON CONFLICT (key) DO NOTHING",
        )
    )
    done = p.arrays(outbox, "done", ("key", "done_at"), "d")
    ctes.append(
        (
            "w_done",
            f"UPDATE outbox SET done_at = d.done_at, locked_until = NULL FROM {done} "
            "WHERE outbox.key = d.key AND outbox.done_at IS NULL",
        )
    )
    dropped = p.arrays(timers, "dropped_timers", ("tenant_id", "id"), "g")
    ctes.append(
        (
            "w_dropped_timers",
            f"DELETE FROM timers t USING {dropped} WHERE t.tenant_id = g.tenant_id AND t.id = g.id",
        )
    )
    ctes.append(("w_timers", _upsert(p, timers, "armed_timers", TIMER_COLUMNS, ("id",))))
    body = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
    # Every guarded update must reach its run. If one does not (someone else moved the run),
    # the statement fails with a division by zero, so none of its writes stays: it runs in
    # autocommit, with no transaction around it to roll back. (A divisor computed from the
    # data, because PostgreSQL may fold a constant 1 / 0 even in a branch never taken.)
    p.sources.append(("guard", "updates"))
    guard = (
        "SELECT 1 / (CASE WHEN (SELECT count(*) FROM w_runs) = "
        f"${len(p.sources)}::int THEN 1 ELSE 0 END)"
    )
    return f"WITH {body}\n{guard}", p.sources


def _column(rows: list[Any], column: str) -> list[Any]:
    return [row[column] for row in rows]


class CombinedWriter:
    """PostgreSQL: the whole plan in one round trip, with one fixed statement."""

    def __init__(self) -> None:
        self.sql, self._sources = build_statement()

    def arguments(self, plan: CommitPlan) -> tuple[Any, ...]:
        """The statement's parameters for `plan`: one list per (entry, column)."""
        columns: dict[tuple[str, str], list[Any]] = {}
        tuple_keys = {
            "pending_runs": ("tenant_id", "run_id"),
            "dropped_timers": ("tenant_id", "id"),
        }
        out: list[Any] = []
        for entry, column in self._sources:
            if entry == "guard":
                out.append(len(plan.updates))
                continue
            found = columns.get((entry, column))
            if found is None:
                rows = getattr(plan, entry)
                if entry in tuple_keys:
                    found = [row[tuple_keys[entry].index(column)] for row in rows]
                elif entry == "done":
                    found = _column(rows, "b_key" if column == "key" else column)
                else:
                    found = _column(rows, column)
                columns[(entry, column)] = found
            out.append(found)
        return tuple(out)

    async def write(self, conn: AsyncConnection, plan: CommitPlan) -> None:
        try:
            await conn.exec_driver_sql(self.sql, self.arguments(plan))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == GUARD_FAILED:
                raise ConcurrencyConflict() from None
            raise
