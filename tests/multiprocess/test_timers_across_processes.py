"""Three engine processes share one PostgreSQL database with 2,000 timers due within the same
minute: every timer fires exactly once, in one of the processes, and 99% of them fire less than
2 s after they came due. Meanwhile a workflow scheduled every second starts one run per fire.

The processes are real (`python -m tests.multiprocess.worker`, the production runtime on the real
clock); the test only seeds the runs beforehand and reads the outcome back from the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.runtime.service import Engine
from storage import open_storage
from tests.conftest import empty_database
from tests.multiprocess.harness import Fleet, outcome, schedule_fires, seed, seed_schedule

pytestmark = pytest.mark.postgres

PROCESSES = 3
TIMERS = 2_000
WINDOW = 20.0  # seconds over which the timers come due
LEAD = 15.0  # seconds from seeding to the first due time: the processes start meanwhile


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database("postgres", tmp_path) as url:
        yield url


async def test_three_processes_fire_2000_timers_once_each_within_two_seconds(
    postgres_url: str, tmp_path: Path
) -> None:
    storage = await open_storage(postgres_url, create=True)
    fleet = Fleet(postgres_url, PROCESSES, tmp_path)
    try:
        first_due = datetime.now(UTC) + timedelta(seconds=LEAD)
        seeder = Engine.from_storage(storage)
        dues = await seed(seeder, first_due, TIMERS, WINDOW)
        await seed_schedule(seeder, first_due, "1s")
        assert datetime.now(UTC) < first_due, "seeding took longer than the lead time"
        await fleet.start()
        assert datetime.now(UTC) < first_due, "the processes took longer than the lead time"
        await fleet.wait_fired(TIMERS, within=LEAD + WINDOW + 30)
    finally:
        per_process = await fleet.stop()
    try:
        result = await outcome(storage, dues)
        fires = await schedule_fires(storage)
    finally:
        await storage.close()

    logs = f"worker logs in {tmp_path}"
    p50, p99 = result.percentile(0.50), result.percentile(0.99)
    print(
        f"\n{TIMERS} timers over {WINDOW:.0f}s, {PROCESSES} processes fired {per_process}; "
        f"lateness p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {max(result.lateness) * 1000:.0f} ms"
    )
    assert result.fires_per_run == {1: TIMERS}, f"firings per run: {result.fires_per_run}; {logs}"
    assert result.timers_left == 0
    assert sum(per_process) == TIMERS
    assert all(n > 0 for n in per_process), f"a process fired nothing: {per_process}"
    assert min(result.lateness) >= 0, "a timer fired before it was due"
    assert p99 < 2.0, f"p99 lateness {p99:.3f}s"
    # The scheduled workflow kept firing whichever process took its timer: one run per fire
    # instant, each on its one-second grid (a fire found late coalesces the instants it missed).
    assert len(fires) >= WINDOW / 2, fires
    assert len(set(fires)) == len(fires)
    assert all((at - first_due).total_seconds() % 1 == 0 for at in fires), fires
