"""Every list query reads through an index on PostgreSQL: the statements the stores really send are
captured and handed to EXPLAIN over a seeded, ANALYZEd schema (20,000 runs, 100 tenants), so the
planner chooses as it would in production. A sequential scan of a big table, a filter an index
could have answered (the cursor's position included), or a full sort of a tenant's rows fails
the test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from storage import Storage, open_storage
from storage.runs import SqlRunStore
from tests.conftest import TEST_SECRET_KEY, empty_database
from tests.storage.builders import T0, new_run

pytestmark = pytest.mark.postgres

BIG = ("runs", "events", "pending_tasks", "run_participants")
SORTED = 1_000  # rows a plan may sort
SEED = 20_000  # runs in 100 tenants; T1, the one asked about, holds a fifth of them


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[Storage]:
    async with empty_database("postgres", tmp_path) as url:
        storage = await open_storage(url, create=True, secret_key=lambda: TEST_SECRET_KEY)
        try:
            await storage.runs.commit(
                [new_run(f"r{i}", requester="U_REQ", at=T0.replace(minute=i)) for i in range(6)]
            )
            async with storage.engine.begin() as conn:
                await conn.execute(text(_SEED_SQL), {"n": SEED})
                for table in BIG:
                    await conn.execute(text(f"ANALYZE {table}"))
            yield storage
        finally:
            await storage.close()


# Copies of r0 with new ids, spread over tenants, statuses, requesters and workflows; U_A waits
# on a tenth of them (in T1: about 2,000 tasks, a busy approver).
_SEED_SQL = """
WITH base AS (SELECT * FROM runs WHERE run_id = 'r0'),
made AS (
    INSERT INTO runs (tenant_id, run_id, workflow, version, status, requester, current_step,
                      started_at, updated_at, finished_at, seq, state)
    SELECT CASE WHEN g % 5 = 0 THEN 'T1' ELSE 'T' || (g % 100) END, 'f' || g, 'wf' || (g % 7), 1,
           (ARRAY['running', 'completed', 'failed', 'cancelled'])[1 + g % 4],
           'U' || (g % 997), base.current_step, base.started_at - g * interval '1 minute',
           base.updated_at, NULL, base.seq, base.state
    FROM base, generate_series(1, :n) AS g
    RETURNING tenant_id, run_id, started_at, requester, workflow
),
evs AS (
    INSERT INTO events (tenant_id, run_id, seq, type, data, at)
    SELECT m.tenant_id, m.run_id, s, 'note', '{}', m.started_at
    FROM made m, generate_series(1, 3) AS s
),
people AS (
    INSERT INTO run_participants (tenant_id, principal, started_at, run_id)
    SELECT m.tenant_id, m.requester, m.started_at, m.run_id FROM made m
    UNION ALL
    SELECT m.tenant_id, 'U_A', m.started_at, m.run_id FROM made m WHERE m.run_id LIKE '%0'
)
INSERT INTO pending_tasks (tenant_id, run_id, step_id, principal, kind, workflow, requester,
                           since)
SELECT m.tenant_id, m.run_id, 'manager',
       CASE WHEN m.run_id LIKE '%0' THEN 'U_A' ELSE 'U' || (hashtext(m.run_id) & 1023) END,
       'approval', m.workflow, m.requester, m.started_at
FROM made m
"""


def _capture(storage: Storage) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []

    @event.listens_for(storage.engine.sync_engine, "before_cursor_execute")
    def keep(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))

    return sent


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


async def _plans(storage: Storage, call: Callable[[], Awaitable[object]]) -> list[Any]:
    sent = _capture(storage)
    await call()
    assert sent, "the call sent no query"
    plans = []
    async with storage.engine.connect() as conn:
        for statement, params in sent:
            found = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params)
            doc = found.scalar_one()
            plans.append((statement, json.loads(doc) if isinstance(doc, str) else doc))
    return plans


def _problems(plans: list[Any], indexed: str | None) -> list[str]:
    problems = []
    for statement, doc in plans:
        for node in _nodes(doc[0]["Plan"]):
            where = f"{node['Node Type']} on {node.get('Relation Name')} for {statement!r}"
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG:
                problems.append(where)
            # A tenant's rows sorted whole; a few hundred (one person's tasks) sort in no time,
            # and an Incremental Sort only orders ties of an index's order.
            if node["Node Type"] == "Sort" and node["Plan Rows"] > SORTED:
                problems.append(where)
            if indexed and indexed in node.get("Filter", ""):
                problems.append(f"{indexed} filtered, not in the index: {where}")
            # The next page starts inside the index (a row comparison), not after a walk
            # from the top that filters out the pages before it.
            if "started_at" in node.get("Filter", ""):
                problems.append(f"the cursor filtered, not an index range: {where}")
    return problems


async def _two_pages(runs: SqlRunStore, **filters: str) -> None:
    first = await runs.list_runs("T1", limit=2, **filters)
    assert first.next_cursor is not None, "the seed should fill more than a page"
    await runs.list_runs("T1", limit=2, cursor=first.next_cursor, **filters)


@pytest.mark.parametrize(
    ("filters", "indexed"),
    # Each list of the API, the web pages, App Home, the slash command and the CLI is one of
    # these (Engine.list_runs with these filters), and the SLA/tasks views are the test below.
    [
        ({}, None),
        ({"status": "running"}, "status"),
        ({"requester": "U_REQ"}, "requester"),
        ({"workflow": "expense"}, "workflow"),
        ({"participant": "U_A"}, "principal"),  # through run_participants (migration 0015)
        ({"participant": "U_A", "status": "running"}, "principal"),
    ],
)
async def test_run_lists_and_their_next_page_read_an_index(
    seeded: Storage, filters: dict[str, str], indexed: str | None
) -> None:
    runs = seeded.runs
    assert isinstance(runs, SqlRunStore)
    plans = await _plans(seeded, lambda: _two_pages(runs, **filters))
    assert _problems(plans, indexed) == []


@pytest.mark.parametrize("principal", ["U_A", None])
async def test_pending_tasks_and_the_sla_loads_read_an_index(
    seeded: Storage, principal: str | None
) -> None:
    runs = seeded.runs

    async def sla_reads() -> None:  # what Engine.sla sends: the task list, then its runs at once
        tasks = await runs.pending_tasks("T1", principal, limit=400)
        assert tasks
        found = await runs.get_many("T1", [t.run_id for t in tasks])
        assert len(found) == len({t.run_id for t in tasks})

    plans = await _plans(seeded, sla_reads)
    assert len(plans) == 2  # one query for the tasks, one for all their runs
    assert _problems(plans, "principal" if principal else None) == []


@pytest.mark.parametrize("principal", ["U_A", None])
async def test_the_sla_pages_next_page_and_summary_read_an_index(
    seeded: Storage, principal: str | None
) -> None:
    runs = seeded.runs
    first = await runs.pending_tasks("T1", principal, limit=100)
    last = first[-1]

    async def later_page_and_counts() -> None:  # what /sla sends besides the runs of a page
        after = (last.since, last.run_id, last.step_id)
        assert await runs.pending_tasks("T1", principal, limit=100, after=after)
        summary = await runs.pending_summary("T1", principal, cutoff=T0)
        assert summary.tasks > 100

    plans = await _plans(seeded, later_page_and_counts)
    assert len(plans) == 2
    assert _problems(plans, "principal" if principal else None) == []
    # The page starts inside the index (a row comparison), not after a walk that filters.
    assert not [
        n for _, doc in plans for n in _nodes(doc[0]["Plan"]) if "since" in n.get("Filter", "")
    ]


async def test_run_detail_reads_an_index(seeded: Storage) -> None:
    async def detail() -> None:
        await seeded.runs.load("T1", "r3")
        await seeded.runs.events("T1", "r3")

    assert _problems(await _plans(seeded, detail), None) == []
