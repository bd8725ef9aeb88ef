"""The same two workloads on DBOS Transact (durable workflows on PostgreSQL), our closest peer.

Optional: needs the `bench` extra (`pip install -e '.[bench]'`). Each workload runs in a fresh
DBOS system database so the figures do not depend on earlier runs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class PeerFigures:
    runs_per_s: float
    approvals_s: float  # first decision until every run is complete


def available() -> bool:
    try:
        import dbos  # noqa: F401
    except ImportError:
        return False
    return True


async def measure(runs: int, approvals: int, concurrency: int) -> PeerFigures:
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": "countersign-bench",
        "system_database_url": "postgresql://postgres@127.0.0.1:5432/countersign_dbos_bench",
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.01,
    }
    DBOS.destroy(destroy_registry=True)
    dbos = DBOS(config=config)

    @DBOS.step()
    async def step(n: int) -> int:
        return n + 1

    @DBOS.workflow()
    async def three_steps(n: int) -> int:
        return await step(await step(await step(n)))

    @DBOS.workflow()
    async def one_approval(n: int) -> Any:
        decision = await DBOS.recv_async("decision", timeout_seconds=120)
        return await step(1 if decision == "approve" else 0)

    DBOS.reset_system_database()
    DBOS.launch()
    try:
        sem = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with sem:
                handle = await DBOS.start_workflow_async(three_steps, n)
                await handle.get_result()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(runs)))
        runs_per_s = runs / (time.perf_counter() - t0)

        handles = [await DBOS.start_workflow_async(one_approval, n) for n in range(approvals)]
        # Let every workflow reach its recv before timing the decisions.
        await asyncio.sleep(1.0)
        t0 = time.perf_counter()

        async def decide(h: Any) -> None:
            async with sem:
                await DBOS.send_async(h.get_workflow_id(), "approve", "decision")

        await asyncio.gather(*(decide(h) for h in handles))
        await asyncio.gather(*(h.get_result() for h in handles))
        approvals_s = time.perf_counter() - t0
    finally:
        DBOS.destroy(destroy_registry=True)
    del dbos
    return PeerFigures(runs_per_s=runs_per_s, approvals_s=approvals_s)


if __name__ == "__main__":
    print(asyncio.run(measure(500, 1000, 16)))
