"""The schedule part of the TimerStore contract, on every backend: one timer per scheduled
workflow, re-armed in place, moved on after a fire only if nobody re-armed it meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.testing import MemoryStorage
from storage import Storage

NINE = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


async def test_arming_twice_keeps_one_timer_and_releases_its_claim(
    store_backend: MemoryStorage | Storage,
) -> None:
    timers = store_backend.timers
    await timers.arm_schedule("T1", "report", NINE)
    [claimed] = await timers.claim_due(NINE, 10, LEASE)
    assert (claimed.kind, claimed.step_id, claimed.due_at) == ("schedule", "report", NINE)
    assert await timers.claim_due(NINE, 10, LEASE) == []  # held

    await timers.arm_schedule("T1", "report", NINE + timedelta(hours=1))
    assert await timers.schedules("T1") == {"report": NINE + timedelta(hours=1)}
    assert await timers.next_due() == NINE + timedelta(hours=1)  # the claim went with the re-arm

    await timers.arm_schedule("T1", "report", None)
    assert await timers.schedules("T1") == {}
    assert await timers.next_due() is None


async def test_advance_moves_a_fired_timer_unless_it_was_rearmed(
    store_backend: MemoryStorage | Storage,
) -> None:
    timers = store_backend.timers
    await timers.arm_schedule("T1", "report", NINE)
    [claimed] = await timers.claim_due(NINE, 10, LEASE)
    assert await timers.advance_schedule(claimed, NINE + timedelta(days=1))
    assert await timers.schedules("T1") == {"report": NINE + timedelta(days=1)}
    assert await timers.claim_due(NINE + timedelta(days=1), 10, LEASE) != []  # free again

    await timers.arm_schedule("T1", "report", NINE)
    [claimed] = await timers.claim_due(NINE, 10, LEASE)
    await timers.arm_schedule("T1", "report", NINE + timedelta(hours=3))  # a new version
    assert not await timers.advance_schedule(claimed, NINE + timedelta(days=1))
    assert await timers.schedules("T1") == {"report": NINE + timedelta(hours=3)}

    [claimed] = await timers.claim_due(NINE + timedelta(hours=3), 10, LEASE)
    assert await timers.advance_schedule(claimed, None)  # the schedule has ended
    assert await timers.schedules("T1") == {}


async def test_schedules_are_listed_per_tenant(store_backend: MemoryStorage | Storage) -> None:
    timers = store_backend.timers
    await timers.arm_schedule("T1", "report", NINE)
    await timers.arm_schedule("T2", "report", NINE + timedelta(hours=1))
    await timers.arm_schedule("T2", "digest", NINE + timedelta(hours=2))
    assert await timers.schedules("T1") == {"report": NINE}
    assert await timers.schedules("T2") == {
        "report": NINE + timedelta(hours=1),
        "digest": NINE + timedelta(hours=2),
    }
    await timers.arm_schedule("T1", "report", None)
    assert await timers.schedules("T2") != {}
