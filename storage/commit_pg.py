"""PostgreSQL: a whole commit plan as ONE statement of data-modifying CTEs (plus BEGIN and
COMMIT), instead of a round trip per kind of row.

Building and compiling a statement of this size costs more than sending it, so its SQL is
compiled once per plan *shape* (how many rows of each kind) and reused: the parameters are named
by position in the plan, and `bind_values` computes them without building the statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    Select,
    bindparam,
    delete,
    func,
    literal_column,
    not_,
    null,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.errors import ConcurrencyConflict
from storage.commit import RUN_FIELDS, CommitPlan, upserts
from storage.dialect import insert_for
from storage.schema import events, outbox, pending_tasks, runs, timers


class _Binds:
    """Named bind parameters whose names depend only on the plan's shape, so the SQL of a shape
    is compiled once and every later plan of that shape only supplies values."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def one(self, name: str, value: Any) -> BindParameter[Any]:
        self.values[name] = value
        return bindparam(name)

    def rows(self, prefix: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {col: self.one(f"{prefix}{i}_{col}", v) for col, v in row.items()}
            for i, row in enumerate(rows)
        ]

    def among(self, prefix: str, columns: Sequence[Any], keys: Sequence[tuple[Any, ...]]) -> Any:
        """(columns) matching one of `keys`, with a bind per value (an IN list would expand at
        execution time, and the SQL would no longer be fixed by the shape)."""
        return or_(
            *(
                tuple_(*columns)
                == tuple_(*(self.one(f"{prefix}{i}_{j}", v) for j, v in enumerate(key)))
                for i, key in enumerate(keys)
            )
        )


def combined_statement(plan: CommitPlan) -> tuple[Select[Any], dict[str, Any]]:
    """The whole plan as one PostgreSQL statement and its parameters: each write is a
    data-modifying CTE, and the SELECT counts the runs the guarded UPDATEs reached. The CTEs run
    on one snapshot and must not touch a row twice, so pending rows are upserted and only the
    stale ones deleted."""
    b = _Binds()
    ctes: list[CTE] = []
    guarded: list[CTE] = []

    def add(name: str, stmt: Any) -> CTE:
        cte: CTE = stmt.cte(f"w_{name}")
        ctes.append(cte)
        return cte

    if plan.new_runs:
        add("new_runs", runs.insert().values(b.rows("nr", plan.new_runs)))
    for i, params in enumerate(plan.updates):
        stmt = (
            update(runs)
            .where(
                runs.c.tenant_id == b.one(f"u{i}_tenant", params["b_tenant"]),
                runs.c.run_id == b.one(f"u{i}_run", params["b_run"]),
                runs.c.seq == b.one(f"u{i}_expected", params["b_expected"]),
            )
            .values({name: b.one(f"u{i}_{name}", params[name]) for name in RUN_FIELDS})
            .returning(runs.c.run_id)
        )
        guarded.append(add(f"run{i}", stmt))
    if plan.events:
        add("events", events.insert().values(b.rows("ev", plan.events)))
    upsert_steps, upsert_timers, upsert_pending = upserts(
        "postgresql",
        b.rows("st", plan.steps) or None,
        b.rows("tm", plan.armed_timers) or None,
        b.rows("pd", plan.pending) or None,
    )
    if plan.steps:
        add("steps", upsert_steps)
    if plan.pending_runs:
        p = pending_tasks.c
        redone = b.among("pr", [p.tenant_id, p.run_id], plan.pending_runs)
        stale = delete(pending_tasks).where(redone)
        keep = [(r["tenant_id"], r["run_id"], r["step_id"], r["principal"]) for r in plan.pending]
        if keep:
            key = [p.tenant_id, p.run_id, p.step_id, p.principal]
            stale = stale.where(not_(b.among("pk", key, keep)))
        add("stale_pending", stale)
    if plan.pending:
        add("pending", upsert_pending)
    if plan.outbox:
        add(
            "outbox",
            insert_for("postgresql")(outbox)
            .values(b.rows("ob", plan.outbox))
            .on_conflict_do_nothing(index_elements=["key"]),
        )
    for i, done in enumerate(plan.done):
        add(
            f"done{i}",
            update(outbox)
            .where(outbox.c.key == b.one(f"d{i}_key", done["b_key"]), outbox.c.done_at.is_(None))
            .values(done_at=b.one(f"d{i}_at", done["done_at"]), locked_until=null()),
        )
    if plan.dropped_timers:
        t = timers.c
        dropped = b.among("dt", [t.tenant_id, t.id], plan.dropped_timers)
        add("dropped_timers", delete(timers).where(dropped))
    if plan.armed_timers:
        add("timers", upsert_timers)
    if guarded:
        reached = union_all(*(select(g.c.run_id) for g in guarded)).subquery()
        query: Select[Any] = select(func.count()).select_from(reached)
    else:
        query = select(literal_column("0"))
    return query.add_cte(*ctes), b.values


def bind_values(plan: CommitPlan) -> dict[str, Any]:
    """The parameters `combined_statement` would bind for `plan`, without building it (that is
    the expensive part): the same names, from the same rows."""
    values: dict[str, Any] = {}

    def rows(prefix: str, found: list[dict[str, Any]]) -> None:
        for i, row in enumerate(found):
            for col, v in row.items():
                values[f"{prefix}{i}_{col}"] = v

    def keys(prefix: str, found: Sequence[tuple[Any, ...]]) -> None:
        for i, key in enumerate(found):
            for j, v in enumerate(key):
                values[f"{prefix}{i}_{j}"] = v

    rows("nr", plan.new_runs)
    for i, params in enumerate(plan.updates):
        values[f"u{i}_tenant"] = params["b_tenant"]
        values[f"u{i}_run"] = params["b_run"]
        values[f"u{i}_expected"] = params["b_expected"]
        for name in RUN_FIELDS:
            values[f"u{i}_{name}"] = params[name]
    rows("ev", plan.events)
    rows("st", plan.steps)
    rows("tm", plan.armed_timers)
    rows("pd", plan.pending)
    keys("pr", plan.pending_runs)
    keys("pk", [(r["tenant_id"], r["run_id"], r["step_id"], r["principal"]) for r in plan.pending])
    rows("ob", plan.outbox)
    for i, done in enumerate(plan.done):
        values[f"d{i}_key"], values[f"d{i}_at"] = done["b_key"], done["done_at"]
    keys("dt", plan.dropped_timers)
    return values


def _shape(plan: CommitPlan) -> tuple[int, ...]:
    return tuple(len(rows) for rows in vars(plan).values())


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameter behind each positional $n
    processors: dict[str, Any]  # bind processors (e.g. UTCDateTime) by parameter name


class CombinedWriter:
    """PostgreSQL: the whole plan in one round trip. Building and compiling a statement of this
    size costs more than sending it, so the SQL is compiled once per plan shape and reused."""

    CACHE_SIZE = 512

    def __init__(self) -> None:
        self._compiled: dict[tuple[int, ...], _Compiled] = {}

    def _compile(self, conn: AsyncConnection, plan: CommitPlan) -> tuple[_Compiled, dict[str, Any]]:
        shape = _shape(plan)
        found = self._compiled.get(shape)
        if found is not None:
            return found, bind_values(plan)
        stmt, values = combined_statement(plan)
        compiled = stmt.compile(dialect=conn.dialect)
        found = _Compiled(
            sql=str(compiled),
            names=tuple(compiled.positiontup or ()),
            processors=dict(compiled._bind_processors),
        )
        if len(self._compiled) >= self.CACHE_SIZE:
            self._compiled.clear()
        self._compiled[shape] = found
        return found, values

    async def write(self, conn: AsyncConnection, plan: CommitPlan) -> None:
        compiled, values = self._compile(conn, plan)
        processors = compiled.processors
        args = tuple(
            processors[name](values[name]) if name in processors else values[name]
            for name in compiled.names
        )
        reached = (await conn.exec_driver_sql(compiled.sql, args)).scalar_one()
        if reached != len(plan.updates):
            raise ConcurrencyConflict()
