"""What the schedule reconciler reads and writes, on every backend: the latest versions that carry
a schedule (every tenant, one read), every armed schedule timer, and arming only where none is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.definitions import load_definition
from engine.testing import MemoryStorage
from storage import Storage
from tests.schedules.conftest import workflow

NINE = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)

# No top-level schedule, but "schedule" keys inside a step's JSON body.
DECOY = """
name: decoy
steps:
  - id: call
    type: http
    url: https://example.com/
    json: {schedule: {cron: "0 9 * * *"}, every: 1h}
"""


async def store(backend: MemoryStorage | Storage, tenant: str, text: str, at: datetime) -> None:
    await backend.definitions.apply(tenant, load_definition(text), text, at)


async def test_scheduled_lists_the_latest_scheduled_versions_of_every_tenant(
    store_backend: MemoryStorage | Storage,
) -> None:
    await store(store_backend, "T1", workflow("every: 1h\ninputs: {region: x}"), NINE)
    await store(
        store_backend,
        "T1",
        workflow('cron: "0 8 * * *"\ninputs: {region: x}'),
        NINE + timedelta(hours=1),
    )
    dropped = workflow("every: 2h\ninputs: {region: x}", name="dropped")
    await store(store_backend, "T1", dropped, NINE)
    await store(store_backend, "T1", dropped.split("schedule:")[0], NINE)  # version 2: none
    await store(store_backend, "T1", DECOY, NINE)
    await store(
        store_backend,
        "T2",
        workflow("every: 3h\nmisfire: skip\ninputs: {region: x}", name="paused"),
        NINE,
    )
    await store_backend.definitions.set_disabled("T2", "paused", True)

    found = await store_backend.definitions.scheduled()
    assert [(f.tenant_id, f.name, f.version, f.disabled, f.created_at) for f in found] == [
        ("T1", "report", 2, False, NINE + timedelta(hours=1)),
        ("T2", "paused", 1, True, NINE),
    ]
    assert found[0].schedule.cron == "0 8 * * *"
    assert (str(found[1].schedule.every), found[1].schedule.misfire) == ("3h", "skip")


async def test_all_schedules_lists_the_armed_schedules_of_every_tenant(
    store_backend: MemoryStorage | Storage,
) -> None:
    timers = store_backend.timers
    await timers.arm_schedule("T1", "report", NINE)
    await timers.arm_schedule("T2", "report", NINE + timedelta(hours=1))
    assert await timers.all_schedules() == {
        ("T1", "report"): NINE,
        ("T2", "report"): NINE + timedelta(hours=1),
    }


async def test_arming_if_missing_never_replaces_a_timer_nor_its_claim(
    store_backend: MemoryStorage | Storage,
) -> None:
    timers = store_backend.timers
    assert await timers.arm_schedule_if_missing("T1", "report", NINE)
    assert not await timers.arm_schedule_if_missing("T1", "report", NINE + timedelta(hours=1))
    assert await timers.schedules("T1") == {"report": NINE}

    [claimed] = await timers.claim_due(NINE, 10, LEASE)
    assert not await timers.arm_schedule_if_missing("T1", "report", NINE)
    assert await timers.claim_due(NINE, 10, LEASE) == []  # still held by its claimer
    assert await timers.advance_schedule(claimed, NINE + timedelta(days=1))
    assert await timers.arm_schedule_if_missing("T2", "report", NINE)  # another tenant's
