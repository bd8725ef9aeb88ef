"""The databases `bench.scale` measures: runs made through the engine, multiplied in SQL.

Each size is a schema of the `scale_bench` database (never the tests' `test`): `SEED` runs are
made through the real engine in tenant TSEED (waiting approvals with a reminder and a timeout,
approved, rejected and cancelled ones, in two workflows), copied to temporary tables, and then
multiplied with `generate_series` into `size` runs with new run ids (runs, events, pending tasks,
timers and participants; the state's run, tenant and approver ids rewritten to match). The
copies go in with the tables' keys and indexes dropped (made again after the load, then ANALYZE)
and the tables UNLOGGED: a bench database need not survive a crash, and reads are the same.

Shape (as in issue 14): 1,000 tenants, TBIG with a fifth of the runs (200,000 of 1,000,000), a
tenth of the runs waiting on a person (100,000 open tasks), approvers U9000..U9199, and one
person, UHEAVY, holding 500 of TBIG's tasks (all of them, when TBIG has fewer).
"""

from __future__ import annotations

import re
import time

import asyncpg

from bench.engine import NoOp
from engine.runtime.router import ROUTED_COMMANDS
from engine.runtime.service import Engine
from storage import open_storage

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "scale_bench"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}"

SEED_TENANT = "TSEED"
TENANT = "TBIG"  # the tenant measured: a fifth of all runs
HEAVY = "UHEAVY"  # the person with 500 tasks
HEAVY_TASKS = 500
RARE = "U0RARE7"  # a requester with few runs, spread over the tenants
REQUESTER = "U05"  # an ordinary requester (1 run in 997 of each tenant)
SEED = 293  # runs made through the engine, then copied (prime: every tenant gets all kinds)
BATCH = 100_000
TABLES = ("runs", "events", "pending_tasks", "timers", "run_participants")

APPROVAL = """
name: scale-approval
steps:
  - id: ok
    type: approval
    approvers: [U01]
    remind_every: 1d
    timeout: 30 days
"""
RARE_FLOW = """
name: scale-rare
steps:
  - {id: ok, type: approval, approvers: [U01]}
"""

# The seed's rows, numbered, in temporary tables: each batch joins these, not the growing tables.
_SEED_COPY = [
    "CREATE TEMP TABLE seed_runs AS SELECT row_number() OVER (ORDER BY run_id) - 1 AS i, * "
    f"FROM runs WHERE tenant_id = '{SEED_TENANT}'",
    f"CREATE TEMP TABLE seed_events AS SELECT * FROM events WHERE tenant_id = '{SEED_TENANT}'",
    "CREATE TEMP TABLE seed_tasks AS SELECT * FROM pending_tasks "
    f"WHERE tenant_id = '{SEED_TENANT}'",
    f"CREATE TEMP TABLE seed_timers AS SELECT * FROM timers WHERE tenant_id = '{SEED_TENANT}'",
    "CREATE TEMP TABLE seed_people AS SELECT * FROM run_participants "
    f"WHERE tenant_id = '{SEED_TENANT}'",
    "CREATE INDEX ON seed_runs (i)",
    "CREATE INDEX ON seed_events (run_id)",
    "ANALYZE seed_runs",
    "ANALYZE seed_events",
]

# Copy g of seed run g % SEED: a fifth in TBIG, the rest over T1..T999; requester and approver
# spread by g; started at the seed run's time (state and row agree, so cursors work; ties are
# ordered by run id as in production).
_COPIES = """
CREATE TEMP TABLE copies AS
SELECT g, b.run_id AS base, b.run_id || '~' || g AS run_id,
       CASE WHEN g % 5 = 0 THEN :tenant ELSE 'T' || (g % 999 + 1) END AS tenant_id,
       CASE WHEN g % 499 = 7 THEN :rare ELSE 'U' || lpad((g % 997)::text, 2, '0') END
           AS requester,
       'U9' || lpad((g % 200)::text, 3, '0') AS approver
FROM generate_series(:start + 1, :stop) AS g JOIN seed_runs b ON b.i = g % :seed
"""


def _renamed(column: str) -> str:
    """`column` (JSON text) with the seed's run, tenant, requester and approver ids replaced."""
    return (
        f"replace(replace(replace(replace({column}, b.run_id, c.run_id), "
        f'\'"tenant_id":"{SEED_TENANT}"\', \'"tenant_id":"\' || c.tenant_id || \'"\'), '
        "'\"U01\"', '\"' || c.approver || '\"'), "
        "'\"' || b.requester || '\"', '\"' || c.requester || '\"')"
    )


_INSERTS = [
    f"""INSERT INTO runs (tenant_id, run_id, workflow, version, status, requester, current_step,
                         started_at, updated_at, finished_at, seq, state, head_hash)
    SELECT c.tenant_id, c.run_id, b.workflow, b.version, b.status, c.requester, b.current_step,
           b.started_at, b.updated_at, b.finished_at, b.seq, {_renamed("b.state")}, b.head_hash
    FROM copies c JOIN seed_runs b ON b.run_id = c.base""",
    f"""INSERT INTO events (tenant_id, run_id, seq, type, data, at, prev_hash, hash)
    SELECT c.tenant_id, c.run_id, e.seq, e.type, {_renamed("e.data")}, e.at, e.prev_hash, e.hash
    FROM copies c JOIN seed_runs b ON b.run_id = c.base JOIN seed_events e ON e.run_id = c.base""",
    """INSERT INTO pending_tasks (tenant_id, run_id, step_id, principal, kind, workflow,
                                 requester, since)
    SELECT c.tenant_id, c.run_id, p.step_id, c.approver, p.kind, p.workflow, c.requester, p.since
    FROM copies c JOIN seed_tasks p ON p.run_id = c.base""",
    """INSERT INTO run_participants (tenant_id, principal, started_at, run_id)
    SELECT DISTINCT c.tenant_id, CASE p.principal WHEN 'U01' THEN c.approver
               WHEN b.requester THEN c.requester ELSE p.principal END, p.started_at, c.run_id
    FROM copies c JOIN seed_runs b ON b.run_id = c.base JOIN seed_people p ON p.run_id = c.base""",
    """INSERT INTO timers (id, tenant_id, run_id, due_at, kind, step_id, attempt)
    SELECT t.id || '~' || c.g, c.tenant_id, c.run_id, t.due_at, t.kind, t.step_id, t.attempt
    FROM copies c JOIN seed_timers t ON t.run_id = c.base""",
]

# Every tenant gets the seed tenant's workflows (the SLA view reads step titles from them).
_WORKFLOWS = [
    "INSERT INTO workflows SELECT ts.t, w.name, w.latest_version, w.disabled FROM workflows w, "
    "(SELECT DISTINCT tenant_id AS t FROM runs WHERE tenant_id <> 'TSEED') AS ts "
    "WHERE w.tenant_id = 'TSEED'",
    "INSERT INTO definitions SELECT ts.t, d.name, d.version, d.canonical, d.hash, d.source, "
    "d.created_at FROM definitions d, (SELECT DISTINCT tenant_id AS t FROM runs "
    "WHERE tenant_id <> 'TSEED') AS ts WHERE d.tenant_id = 'TSEED'",
]

# HEAVY takes over TBIG's oldest open tasks, in the states and events too.
_HEAVY = [
    f"""CREATE TEMP TABLE heavy AS SELECT run_id, principal FROM pending_tasks
    WHERE tenant_id = :tenant ORDER BY since, run_id LIMIT {HEAVY_TASKS}""",
    """UPDATE pending_tasks p SET principal = :heavy FROM heavy h
    WHERE p.tenant_id = :tenant AND p.run_id = h.run_id""",
    """UPDATE run_participants p SET principal = :heavy FROM heavy h
    WHERE p.tenant_id = :tenant AND p.run_id = h.run_id AND p.principal = h.principal""",
    """UPDATE runs r SET state = replace(r.state, '"' || h.principal || '"', '"' || :heavy || '"')
    FROM heavy h WHERE r.tenant_id = :tenant AND r.run_id = h.run_id""",
    """UPDATE events e SET data = replace(e.data, '"' || h.principal || '"', '"' || :heavy || '"')
    FROM heavy h WHERE e.tenant_id = :tenant AND e.run_id = h.run_id""",
]


def schema_of(size: int) -> str:
    return f"s{size}"


async def seed(engine: Engine) -> None:
    """SEED runs through the engine: 2% in the rare workflow; 10% left waiting, 70% approved,
    15% rejected, 5% cancelled."""
    await engine.apply_definition(SEED_TENANT, APPROVAL, "approval.yaml")
    await engine.apply_definition(SEED_TENANT, RARE_FLOW, "rare.yaml")
    for i in range(SEED):
        flow = "scale-rare" if i % 50 == 0 else "scale-approval"
        state = await engine.start_run(SEED_TENANT, flow, {}, f"U{2 + i % 8:02d}")
        kind = i % 100
        if 10 <= kind < 80:
            await engine.decide(SEED_TENANT, state.run_id, "ok", "U01", "approve")
        elif 80 <= kind < 95:
            await engine.decide(SEED_TENANT, state.run_id, "ok", "U01", "reject")
        elif kind >= 95:
            await engine.cancel(SEED_TENANT, state.run_id, state.requester, reason="bench")


async def exists(size: int) -> bool:
    try:
        conn = await asyncpg.connect(DSN)
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 "
            "AND table_name = 'runs'",
            schema_of(size),
        )
        if not found:
            return False
        have = await conn.fetchval(f"SELECT count(*) FROM {schema_of(size)}.runs")
        return bool(have >= size)
    finally:
        await conn.close()


async def build(size: int) -> None:
    """(Re)make the schema for `size` runs."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    schema = schema_of(size)
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    t0 = time.perf_counter()
    storage = await open_storage(f"{URL}?search_path={schema}", create=True)
    try:
        engine = Engine.from_storage(storage)
        for command_type in ROUTED_COMMANDS:
            engine.register(command_type, NoOp())
        await seed(engine)
        print(f"  {schema}: {SEED} runs through the engine in {time.perf_counter() - t0:.0f} s")
    finally:
        await storage.close()
    await _multiply(size, schema)
    print(f"  {schema}: {size:,} runs built in {time.perf_counter() - t0:.0f} s", flush=True)


def _sql(statement: str, **params: object) -> str:
    """`statement` with its :names replaced by the bench's own constants, as literals."""
    for name, value in params.items():
        literal = str(value) if isinstance(value, int) else f"'{value}'"
        statement = re.sub(rf":{name}\b", literal, statement)
    return statement


async def _multiply(size: int, schema: str) -> None:
    pg = await asyncpg.connect(DSN, server_settings={"search_path": schema})
    try:
        keys = await pg.fetch(
            "SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def "
            "FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid::regclass::text "
            "= ANY($1::text[])",
            list(TABLES),
        )
        indexes = await pg.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY($1::text[]) AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            list(TABLES),
        )
        await pg.execute("SET synchronous_commit = off")
        await pg.execute("SET maintenance_work_mem = '1GB'")
        for statement in _SEED_COPY:
            await pg.execute(statement)
        for row in indexes:
            await pg.execute(f"DROP INDEX {row['indexname']}")
        for row in keys:
            await pg.execute(f"ALTER TABLE {row['t']} DROP CONSTRAINT {row['conname']}")
        for table in TABLES:
            await pg.execute(f"ALTER TABLE {table} SET UNLOGGED")
        t0 = time.perf_counter()
        params = {"tenant": TENANT, "rare": RARE, "seed": SEED, "heavy": HEAVY}
        for start in range(0, size, BATCH):
            stop = min(start + BATCH, size)
            async with pg.transaction():
                await pg.execute("DROP TABLE IF EXISTS copies")
                await pg.execute(_sql(_COPIES, **params, start=start, stop=stop))
                for statement in _INSERTS:
                    await pg.execute(statement)
            print(f"    {stop:,} runs copied ({time.perf_counter() - t0:.0f} s)", flush=True)
        for statement in _WORKFLOWS:
            await pg.execute(statement)
        t1 = time.perf_counter()
        for row in keys:
            await pg.execute(f"ALTER TABLE {row['t']} ADD CONSTRAINT {row['conname']} {row['def']}")
        for row in indexes:
            await pg.execute(row["indexdef"])
        for statement in _HEAVY:
            await pg.execute(_sql(statement, **params))
        for table in TABLES:
            await pg.execute(f"VACUUM ANALYZE {table}")
        print(f"    keys, indexes and ANALYZE in {time.perf_counter() - t1:.0f} s", flush=True)
    finally:
        await pg.close()


async def drop() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    finally:
        await admin.close()
