"""Read paths at scale: `python -m bench.scale [--runs 100000] [--compare]`.

On PostgreSQL (a fresh schema, dropped after) it starts `SEED` runs through the engine (waiting
approvals, approved, rejected and cancelled ones, in two workflows), then multiplies those rows
in SQL with new run ids (runs, their events and pending tasks; the state's run and tenant ids are
rewritten to match) over `--tenants` tenants until the database holds 10,000 runs, measures, grows
it to `--runs` and measures again. Each read path is timed `--repeat` times, p50 and p99, in one
tenant, as the API, the web pages and App Home call it:
  runs by status / requester / workflow / participant (page 1, and page 2 from its cursor),
  a person's tasks, the SLA view of a person and of the tenant, a run's detail (state + timeline).
`--compare` also times every path without the list indexes of migration 0010 (dropped, then
rebuilt), so the figures before and after them come from one sitting.
1,000,000 runs: `--runs 1000000` (seeding took ~15 s per 100,000 runs here; not run yet).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import text

from bench.engine import PG_DSN, PG_URL, NoOp
from engine.runtime.router import ROUTED_COMMANDS
from engine.runtime.service import Engine
from storage import Storage, open_storage

SEED_TENANT = "TSEED"
TENANT = "T7"  # the tenant measured (one of --tenants)
SEED = 293  # runs made through the engine, then copied (prime: every tenant gets all kinds)
SMALL = 10_000
RARE = "U0RARE7"  # a requester with few runs, spread over the tenants

APPROVAL = """
name: scale-approval
steps:
  - {id: ok, type: approval, approvers: [U01]}
"""
RARE_FLOW = """
name: scale-rare
steps:
  - {id: ok, type: approval, approvers: [U01]}
"""

# Copies of the seed runs numbered g in (:start, :stop]: tenant and requester spread by g, the
# state's run and tenant ids rewritten to the copy's. Started at the seed run's time (state and
# row agree, so cursors work); ties are ordered by run id as in production.
_COPY = """
WITH made AS (
    INSERT INTO runs (tenant_id, run_id, workflow, version, status, requester, current_step,
                      started_at, updated_at, finished_at, seq, state)
    SELECT 'T' || (g % :tenants), b.run_id || '~' || g, b.workflow, b.version, b.status,
           CASE WHEN g % 499 = 7 THEN :rare ELSE 'U' || (g % 997) END, b.current_step,
           b.started_at, b.updated_at, b.finished_at, b.seq,
           replace(replace(b.state, b.run_id, b.run_id || '~' || g),
                   '"tenant_id":"TSEED"', '"tenant_id":"T' || (g % :tenants) || '"')
    FROM generate_series(:start + 1, :stop) AS g
    JOIN (SELECT row_number() OVER (ORDER BY run_id) - 1 AS i, * FROM runs
          WHERE tenant_id = 'TSEED') AS b ON b.i = g % :seed
    RETURNING tenant_id, run_id, split_part(run_id, '~', 1) AS base
),
evs AS (
    INSERT INTO events (tenant_id, run_id, seq, type, data, at)
    SELECT m.tenant_id, m.run_id, e.seq, e.type, e.data, e.at
    FROM made m JOIN events e ON e.tenant_id = 'TSEED' AND e.run_id = m.base
)
INSERT INTO pending_tasks (tenant_id, run_id, step_id, principal, kind, workflow, requester,
                           since)
SELECT m.tenant_id, m.run_id, p.step_id,
       'U9' || (hashtext(m.run_id) & 31), p.kind, p.workflow, p.requester, p.since
FROM made m JOIN pending_tasks p ON p.tenant_id = 'TSEED' AND p.run_id = m.base
"""

# Every tenant gets the seed tenant's workflows (the SLA view reads step titles from them).
_WORKFLOWS = [
    "INSERT INTO workflows SELECT 'T' || t, name, latest_version, disabled FROM workflows, "
    "generate_series(0, :tenants - 1) AS t WHERE tenant_id = 'TSEED'",
    "INSERT INTO definitions SELECT 'T' || t, name, version, canonical, hash, source, created_at "
    "FROM definitions, generate_series(0, :tenants - 1) AS t WHERE tenant_id = 'TSEED'",
]

# Migration 0010 undone and redone, for --compare.
_WITHOUT = [
    "DROP INDEX ix_runs_tenant_id_status_started_at_run_id",
    "DROP INDEX ix_runs_tenant_id_requester_started_at_run_id",
    "DROP INDEX ix_runs_tenant_id_workflow_started_at_run_id",
    "DROP INDEX ix_pending_tasks_tenant_id_since_run_id_step_id_principal",
    "DROP INDEX ix_pending_tasks_tenant_id_principal_since_run_id_step_id",
    "CREATE INDEX ix_pending_tasks_tenant_id_principal_since ON pending_tasks "
    "(tenant_id, principal, since)",
]
_WITH = [
    "DROP INDEX ix_pending_tasks_tenant_id_principal_since",
    "CREATE INDEX ix_runs_tenant_id_status_started_at_run_id ON runs "
    "(tenant_id, status, started_at, run_id)",
    "CREATE INDEX ix_runs_tenant_id_requester_started_at_run_id ON runs "
    "(tenant_id, requester, started_at, run_id)",
    "CREATE INDEX ix_runs_tenant_id_workflow_started_at_run_id ON runs "
    "(tenant_id, workflow, started_at, run_id)",
    "CREATE INDEX ix_pending_tasks_tenant_id_since_run_id_step_id_principal ON pending_tasks "
    "(tenant_id, since, run_id, step_id, principal)",
    "CREATE INDEX ix_pending_tasks_tenant_id_principal_since_run_id_step_id ON pending_tasks "
    "(tenant_id, principal, since, run_id, step_id)",
]


async def seed(engine: Engine) -> None:
    """SEED runs through the engine: 2% in the rare workflow; of the rest, 60% left waiting,
    25% approved, 13% rejected, 2% cancelled."""
    await engine.apply_definition(SEED_TENANT, APPROVAL, "approval.yaml")
    await engine.apply_definition(SEED_TENANT, RARE_FLOW, "rare.yaml")
    for i in range(SEED):
        flow = "scale-rare" if i % 50 == 0 else "scale-approval"
        state = await engine.start_run(SEED_TENANT, flow, {}, f"U{2 + i % 8:02d}")
        kind = i % 100
        if 60 <= kind < 85:
            await engine.decide(SEED_TENANT, state.run_id, "ok", "U01", "approve")
        elif 85 <= kind < 98:
            await engine.decide(SEED_TENANT, state.run_id, "ok", "U01", "reject")
        elif kind >= 98:
            await engine.cancel(SEED_TENANT, state.run_id, state.requester, reason="bench")


async def grow(storage: Storage, have: int, want: int, tenants: int) -> None:
    if have == 0:
        async with storage.engine.begin() as conn:
            for statement in _WORKFLOWS:
                await conn.execute(text(statement), {"tenants": tenants})
    step = 50_000
    for start in range(have, want, step):
        async with storage.engine.begin() as conn:
            await conn.execute(
                text(_COPY),
                {
                    "start": start,
                    "stop": min(start + step, want),
                    "tenants": tenants,
                    "rare": RARE,
                    "seed": SEED,
                },
            )
    async with storage.engine.begin() as conn:
        for table in ("runs", "events", "pending_tasks"):
            await conn.execute(text(f"ANALYZE {table}"))


async def timed(action: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float]:
    await action()  # warm: plans and pages cached as in a running server
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await action()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99


def paths(engine: Engine, detail_run: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    def listing(**filters: str) -> Callable[[], Awaitable[Any]]:
        return lambda: engine.list_runs(TENANT, limit=50, **filters)

    def second_page(**filters: str) -> Callable[[], Awaitable[Any]]:
        async def run() -> None:
            first = await engine.list_runs(TENANT, limit=50, **filters)
            if first.next_cursor:
                await engine.list_runs(TENANT, limit=50, cursor=first.next_cursor, **filters)

        return run

    async def detail() -> None:
        await engine.get_run(TENANT, detail_run)
        await engine.timeline(TENANT, detail_run)

    return {
        "runs, newest": listing(),
        "runs status=cancelled": listing(status="cancelled"),
        "runs status=cancelled, pages 1+2": second_page(status="cancelled"),
        "runs status=running, pages 1+2": second_page(status="running"),
        f"runs requester={RARE}": listing(requester=RARE),
        "runs workflow=scale-rare": listing(workflow="scale-rare"),
        "runs workflow=scale-rare, pages 1+2": second_page(workflow="scale-rare"),
        f"runs participant={RARE}": listing(participant=RARE),
        "tasks of a person (U97)": lambda: engine.pending_for(TENANT, "U97", limit=100),
        "SLA of a person (U97)": lambda: engine.sla(TENANT, principal="U97", limit=100),
        "SLA of the tenant": lambda: engine.sla(TENANT, limit=100),
        "run detail (state + timeline)": detail,
    }


async def measure(
    storage: Storage, engine: Engine, repeat: int, compare: bool
) -> dict[str, dict[str, tuple[float, float]]]:
    async with storage.engine.connect() as conn:
        detail_run = (
            await conn.execute(
                text("SELECT run_id FROM runs WHERE tenant_id = :t LIMIT 1"), {"t": TENANT}
            )
        ).scalar_one()
    found: dict[str, dict[str, tuple[float, float]]] = {}
    if compare:
        await _ddl(storage, _WITHOUT)
        found["before"] = {n: await timed(a, repeat) for n, a in paths(engine, detail_run).items()}
        await _ddl(storage, _WITH)
    found["after"] = {n: await timed(a, repeat) for n, a in paths(engine, detail_run).items()}
    return found


async def _ddl(storage: Storage, statements: list[str]) -> None:
    async with storage.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
        for table in ("runs", "pending_tasks"):
            await conn.execute(text(f"ANALYZE {table}"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="the larger size")
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30, help="timings per path and size")
    parser.add_argument("--compare", action="store_true", help="also time without 0010")
    args = parser.parse_args()
    if args.runs < SMALL:
        parser.error(f"--runs must be at least {SMALL:,}")
    schema = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        storage = await open_storage(f"{PG_URL}?search_path={schema}", create=True)
        engine = Engine.from_storage(storage)
        for command_type in ROUTED_COMMANDS:
            engine.register(command_type, NoOp())
        try:
            await seed(engine)
            sizes: dict[int, dict[str, dict[str, tuple[float, float]]]] = {}
            have = 0
            for size in (SMALL, args.runs):
                t0 = time.perf_counter()
                await grow(storage, have, size, args.tenants)
                have = size
                print(f"{size:,} runs seeded in {time.perf_counter() - t0:.0f} s", flush=True)
                sizes[size] = await measure(storage, engine, args.repeat, args.compare)
        finally:
            await storage.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    report(sizes, args)


def report(sizes: dict[int, dict[str, dict[str, tuple[float, float]]]], args: Any) -> None:
    small, large = sizes[SMALL], sizes[args.runs]
    per_tenant = f"{args.runs // args.tenants:,}"
    print(f"\n{args.tenants} tenants; tenant {TENANT} holds ~{per_tenant} runs at the larger size")
    print(f"p50 / p99 ms over {args.repeat} calls; ratio = p50 at {args.runs:,} / p50 at 10,000\n")
    for label in small:
        print(f"## {label} migration 0010's indexes\n")
        print(f"| Read path | 10,000 runs | {args.runs:,} runs | ratio |")
        print("|---|---|---|---|")
        for name, (p50, p99) in small[label].items():
            big50, big99 = large[label][name]
            print(
                f"| {name} | {p50:.1f} / {p99:.1f} | {big50:.1f} / {big99:.1f} "
                f"| {big50 / p50:.1f}x |"
            )
        print()


if __name__ == "__main__":
    asyncio.run(main())
