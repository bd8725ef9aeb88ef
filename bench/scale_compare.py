"""Before and after each query change of issue 14, side by side over the same database:
`python -m bench.scale_compare [--runs 1000000] [--repeat 20]` (the schema `bench.scale` built).

  - participant= run lists: the text of every state of the tenant matched newest-first, a page
    at a time until one is full (before), or the person's run_participants rows (after);
  - a later page of a run list: the cursor as `started_at < x OR (started_at = x AND run_id < y)`
    (before, a filter from the top of the index) or as a row comparison (after, a range);
  - the runs of a page of tasks: IN lists (before) or one `= ANY(array)` (after);
  - the SLA view: four times the limit of task rows and all their runs read and parsed (before),
    or as many as it returns (after); its reads only, the rows it builds are the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, or_, select

from bench import scale_data as data
from engine.cursors import decode_cursor
from engine.runtime.service import Engine
from engine.state import RunState
from storage import open_storage
from storage.runs import SqlRunStore
from storage.schema import runs

EMAIL = "email:pat@example.com"


async def _old_participant(store: SqlRunStore, who: str, limit: int = 50) -> list[RunState]:
    """The list as it was before migration 0015 (storage.runs at 7aab2af)."""
    named = json.dumps(who, ensure_ascii=False)
    query = (
        select(runs.c.state)
        .where(
            runs.c.tenant_id == data.TENANT,
            or_(runs.c.requester == who, runs.c.state.contains(named, autoescape=True)),
        )
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
    )
    after: tuple[Any, str] | None = None
    found: list[RunState] = []
    async with store._reader.connect() as conn:
        while len(found) <= limit:
            batch = query if after is None else query.where(_old_before(*after))
            states = [
                RunState.model_validate_json(d)
                for d in (await conn.scalars(batch.limit(limit + 1))).all()
            ]
            found += [s for s in states if who in s.participants()]
            if len(states) <= limit:
                break
            after = (states[-1].started_at, states[-1].run_id)
    return found[:limit]


def _old_before(started_at: Any, run_id: str) -> Any:
    return or_(
        runs.c.started_at < started_at,
        and_(runs.c.started_at == started_at, runs.c.run_id < run_id),
    )


async def _old_page(store: SqlRunStore, cursor: str) -> None:
    query = (
        select(runs.c.state)
        .where(runs.c.tenant_id == data.TENANT, _old_before(*decode_cursor(cursor)))
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        .limit(51)
    )
    async with store._reader.connect() as conn:
        [RunState.model_validate_json(d) for d in (await conn.scalars(query)).all()]


async def _old_get_many(store: SqlRunStore, run_ids: list[str]) -> dict[str, RunState]:
    """`get_many` before it sent one `= ANY(array)`: IN lists of up to 500 ids."""
    wanted = list(dict.fromkeys(run_ids))
    found: dict[str, RunState] = {}
    async with store._reader.connect() as conn:
        for start in range(0, len(wanted), 500):
            query = select(runs.c.run_id, runs.c.state).where(
                runs.c.tenant_id == data.TENANT, runs.c.run_id.in_(wanted[start : start + 500])
            )
            for row in (await conn.execute(query)).all():
                found[row.run_id] = RunState.model_validate_json(row.state)
    return found


async def _old_sla(store: SqlRunStore, who: str | None, limit: int) -> None:
    rows = await store.pending_tasks(data.TENANT, who, limit=limit * 4)
    await _old_get_many(store, [r.run_id for r in rows])


Call = Callable[[], Awaitable[Any]]


async def _timed(calls: list[Call], repeat: int) -> list[tuple[float, float]]:
    for call in calls:
        await call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for i, call in enumerate(calls):
            t0 = time.perf_counter()
            await call()
            times[i].append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(t), max(t)) for t in times]


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    storage = await open_storage(f"{data.URL}?search_path={data.schema_of(args.runs)}")
    try:
        store = storage.runs
        assert isinstance(store, SqlRunStore)
        engine = Engine.from_storage(storage)
        cursor: str | None = None
        for _ in range(19):
            cursor = (await engine.list_runs(data.TENANT, limit=50, cursor=cursor)).next_cursor
        assert cursor is not None
        page20 = cursor
        hundred = [t.run_id for t in await store.pending_tasks(data.TENANT, None, limit=100)]
        cases: list[tuple[str, Call, Call]] = [
            (
                "runs of 100 tasks (get_many)",
                lambda: _old_get_many(store, hundred),
                lambda: store.get_many(data.TENANT, hundred),
            ),
            (
                f"runs participant={EMAIL} (none)",
                lambda: _old_participant(store, EMAIL),
                lambda: engine.list_runs(data.TENANT, participant=EMAIL),
            ),
            (
                f"runs participant={data.HEAVY} (500)",
                lambda: _old_participant(store, data.HEAVY),
                lambda: engine.list_runs(data.TENANT, participant=data.HEAVY),
            ),
            (
                "runs, page 20 from its cursor",
                lambda: _old_page(store, page20),
                lambda: engine.list_runs(data.TENANT, limit=50, cursor=page20),
            ),
            (
                "SLA of the tenant, 100 (reads)",
                lambda: _old_sla(store, None, 100),
                lambda: engine.sla(data.TENANT, limit=100),
            ),
            (
                f"SLA of {data.HEAVY}, 100 (reads)",
                lambda: _old_sla(store, data.HEAVY, 100),
                lambda: engine.sla(data.TENANT, principal=data.HEAVY, limit=100),
            ),
            (
                "SLA of the tenant, 500 (reads)",
                lambda: _old_sla(store, None, 500),
                lambda: engine.sla(data.TENANT, limit=500),
            ),
        ]
        print(f"{args.runs:,} runs, tenant {data.TENANT}; p50 / max ms over {args.repeat} calls\n")
        print("| change | before | after | before / after |")
        print("|---|---|---|---|")
        for name, before, after in cases:
            (b50, bmax), (a50, amax) = await _timed([before, after], args.repeat)
            ratio = b50 / a50
            print(f"| {name} | {b50:.1f} / {bmax:.1f} | {a50:.1f} / {amax:.1f} | {ratio:.0f}x |")
    finally:
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main())
