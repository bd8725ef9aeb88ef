"""Timer figures on PostgreSQL (a fresh schema per measurement, dropped after):
`python -m bench.timers`.

- Lateness (firing time minus due time, read back from the database as written by the firing
  process) of 2,000 timers coming due over 20 s, fired by 1 and by 3 engine processes
  (`tests.multiprocess.worker`, the production runtime on the real clock); and of 2,000 timers
  all due at the same instant (a burst: the spread is how long 3 processes take to drain it).
- Memory (RSS) of one engine process while 100,000 timers are pending, next to the same process
  with none: the timers live in the database; the process holds only its next wake-up.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.runtime.service import Engine
from storage import open_storage
from storage.schema import timers
from tests.conftest import empty_database
from tests.multiprocess.harness import Fleet, outcome, seed

TIMERS = 2_000
WINDOW = 20.0
LEAD = 15.0
PENDING = 100_000


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def lateness(processes: int, window: float, tmp: Path) -> dict[str, float]:
    async with empty_database("postgres", tmp) as url:
        storage = await open_storage(url, create=True)
        fleet = Fleet(url, processes, tmp)
        try:
            first_due = datetime.now(UTC) + timedelta(seconds=LEAD)
            dues = await seed(Engine.from_storage(storage), first_due, TIMERS, window)
            await fleet.start()
            if datetime.now(UTC) >= first_due:
                raise RuntimeError("setup took longer than the lead time; the figures would lie")
            await fleet.wait_fired(TIMERS, within=LEAD + window + 60)
        finally:
            per_process = await fleet.stop()
        result = await outcome(storage, dues)
        await storage.close()
    once = result.fires_per_run == {1: TIMERS}
    return {
        "processes": processes,
        "fired": sum(per_process),
        "once": float(once),
        "p50": result.percentile(0.50) * 1000,
        "p99": result.percentile(0.99) * 1000,
        "max": max(result.lateness) * 1000,
    }


async def memory(pending: int, tmp: Path) -> tuple[float, str]:
    """RSS (MiB) of one engine process once started with `pending` timers in the database, and
    the wake-up it holds."""
    async with empty_database("postgres", tmp) as url:
        storage = await open_storage(url, create=True)
        later = datetime.now(UTC) + timedelta(days=1)
        rows = [
            {
                "id": f"bench:{i}",
                "tenant_id": "T_BENCH",
                "run_id": f"run-{i}",
                "due_at": later + timedelta(seconds=i),
                "kind": "wait",
                "step_id": "wait",
                "attempt": 0,
            }
            for i in range(pending)
        ]
        async with storage.engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                await conn.execute(timers.insert(), rows[start : start + 10_000])
        await storage.close()
        fleet = Fleet(url, 1, tmp)
        try:
            await fleet.start()
            await asyncio.sleep(2)  # let start-up allocations settle before reading RSS
            worker = fleet.workers[0]
            return rss_mib(worker.proc.pid), worker.wakeup
        finally:
            await fleet.stop()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"lateness of {TIMERS:,} timers (ms from due to fired):")
        for processes, window in ((1, WINDOW), (3, WINDOW), (3, 0.0)):
            f = await lateness(processes, window, tmp)
            spread = f"due over {window:.0f} s" if window else "all due at once"
            print(
                f"  {spread}, {processes} process(es): fired {f['fired']:.0f},"
                f" each once: {bool(f['once'])}, p50 {f['p50']:.0f}  p99 {f['p99']:.0f}"
                f"  max {f['max']:.0f}"
            )
        idle, _ = await memory(0, tmp)
        loaded, wakeup = await memory(PENDING, tmp)
        print(
            f"RSS of one engine process: {idle:.1f} MiB with no timers, {loaded:.1f} MiB with"
            f" {PENDING:,} pending (it holds one wake-up, at {wakeup})"
        )


if __name__ == "__main__":
    asyncio.run(main())
