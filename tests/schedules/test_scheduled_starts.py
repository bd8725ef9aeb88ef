"""Scheduled starts through the engine, on every store backend with a manual clock: runs start by
themselves at the schedule's fire times, once each, through restarts, new versions, disabling,
and a second replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.runtime.service import Engine
from engine.schedules import fire_key
from engine.state import RunState
from engine.testing import ManualClock
from tests.schedules.conftest import TENANT, EngineFactory, workflow


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


async def runs(engine: Engine, name: str = "report") -> list[RunState]:
    page = await engine.list_runs(TENANT, workflow=name, limit=500)
    return sorted(page.runs, key=lambda r: r.started_at)


async def next_fire(engine: Engine, name: str = "report") -> datetime | None:
    found = {s.workflow: s for s in await engine.list_schedules(TENANT)}
    return found[name].next_fire


async def test_a_cron_schedule_starts_a_run_with_its_inputs_at_the_fire_time(
    engine: Engine, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 4, 6, 0))  # Monday 08:00 in Berlin
    await engine.apply_definition(
        TENANT,
        workflow(
            'cron: "0 9 * * mon-fri"\ntimezone: Europe/Berlin\n'
            "inputs: {region: emea}\nrequester: U0OPS"
        ),
    )
    [info] = await engine.list_schedules(TENANT)
    assert (info.workflow, info.kind, info.expression, info.timezone, info.misfire) == (
        "report",
        "cron",
        "0 9 * * mon-fri",
        "Europe/Berlin",
        "run_once",
    )
    assert info.next_fire == utc(2026, 5, 4, 7, 0)
    assert info.description == "cron 0 9 * * mon-fri (Europe/Berlin)"

    clock.set(utc(2026, 5, 4, 6, 59, 59))
    await engine.run_until_idle()
    assert await runs(engine) == []

    clock.set(utc(2026, 5, 4, 7, 0))
    await engine.run_until_idle()
    [run] = await runs(engine)
    assert (run.inputs, run.requester, run.started_at) == (
        {"region": "emea"},
        "U0OPS",
        utc(2026, 5, 4, 7, 0),
    )
    assert await engine.runs.run_for_idempotency_key(
        TENANT, fire_key("report", utc(2026, 5, 4, 7))
    ) == (run.run_id)
    assert await next_fire(engine) == utc(2026, 5, 5, 7, 0)


async def test_a_cron_across_the_autumn_change_fires_exactly_once_at_the_right_instant(
    engine: Engine, clock: ManualClock
) -> None:
    # 02:30 comes twice in Berlin on Sunday 25 Oct 2026; the run starts once, at 02:30 CEST.
    clock.set(utc(2026, 10, 24, 20, 0))
    await engine.apply_definition(
        TENANT, workflow('cron: "30 2 * * *"\ntimezone: Europe/Berlin\ninputs: {region: emea}')
    )
    assert await next_fire(engine) == utc(2026, 10, 25, 0, 30)
    at = clock.now()
    while at < utc(2026, 10, 25, 6, 0):  # every 5 minutes through the night
        at += timedelta(minutes=5)
        clock.set(at)
        await engine.run_until_idle()
    assert [r.started_at for r in await runs(engine)] == [utc(2026, 10, 25, 0, 30)]
    assert await next_fire(engine) == utc(2026, 10, 26, 1, 30)  # 02:30 CET the next day


async def test_a_restart_after_downtime_runs_a_missed_schedule_once(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    first = await make_engine()
    await first.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: emea}"))
    await first.stop()  # down from 10:00 to 15:20: five fires missed

    clock.set(utc(2026, 5, 1, 15, 20))
    restarted = await make_engine()
    await restarted.start()  # recovery fires what is overdue
    await restarted.stop()
    await restarted.run_until_idle()
    [run] = await runs(restarted)
    assert run.started_at == utc(2026, 5, 1, 15, 20)
    assert await next_fire(restarted) == utc(2026, 5, 1, 16, 0)


async def test_a_restart_after_downtime_skips_a_missed_schedule_under_skip(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    first = await make_engine()
    await first.apply_definition(TENANT, workflow("every: 1h\nmisfire: skip\ninputs: {region: x}"))
    await first.stop()

    clock.set(utc(2026, 5, 1, 15, 20))
    restarted = await make_engine()
    await restarted.run_until_idle()
    assert await runs(restarted) == []
    assert await next_fire(restarted) == utc(2026, 5, 1, 16, 0)
    clock.set(utc(2026, 5, 1, 16, 0))
    await restarted.run_until_idle()
    assert len(await runs(restarted)) == 1  # on time again: it runs


async def test_a_new_version_rearms_from_its_schedule_and_an_identical_one_keeps_it(
    engine: Engine, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    await engine.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: x}"))
    clock.set(utc(2026, 5, 1, 10, 30))
    again = await engine.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: x}"))
    assert not again.created
    assert await next_fire(engine) == utc(2026, 5, 1, 11, 0)  # not re-anchored at 10:30

    changed = await engine.apply_definition(
        TENANT, workflow('cron: "0 18 * * *"\ninputs: {region: x}')
    )
    assert changed.version == 2
    assert await next_fire(engine) == utc(2026, 5, 1, 18, 0)
    clock.set(utc(2026, 5, 1, 17, 0))
    await engine.run_until_idle()
    assert await runs(engine) == []  # 11:00..17:00 belonged to the old schedule

    unscheduled = workflow("every: 1h").split("schedule:")[0]
    await engine.apply_definition(TENANT, unscheduled)
    assert await engine.list_schedules(TENANT) == []
    clock.set(utc(2026, 5, 2, 0, 0))
    await engine.run_until_idle()
    assert await runs(engine) == []


async def test_disabling_stops_the_schedule_and_enabling_rearms_it(
    engine: Engine, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 8, 0))
    await engine.apply_definition(TENANT, workflow('cron: "0 9 * * *"\ninputs: {region: x}'))
    await engine.set_disabled(TENANT, "report", True)
    [info] = await engine.list_schedules(TENANT)
    assert info.disabled and info.next_fire is None

    clock.set(utc(2026, 5, 3, 12, 0))  # two fires pass while disabled
    await engine.run_until_idle()
    assert await runs(engine) == []

    await engine.set_disabled(TENANT, "report", False)
    assert await next_fire(engine) == utc(2026, 5, 4, 9, 0)  # the next future fire, no catch-up
    await engine.run_until_idle()
    assert await runs(engine) == []


async def test_two_replicas_start_one_run_per_fire(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    one, two = await make_engine(), await make_engine()
    await one.apply_definition(TENANT, workflow("every: 15m\ninputs: {region: x}"))
    for _ in range(8):
        clock.advance(timedelta(minutes=15))
        await two.tick()
        await one.tick()
    assert [r.started_at for r in await runs(one)] == [
        utc(2026, 5, 1, 10, 15) + timedelta(minutes=15 * i) for i in range(8)
    ]


async def test_a_fire_claimed_twice_still_starts_one_run(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    """A replica claims the fire, starts the run and dies before arming the next fire: after
    its lease another replica fires the same instant again, and finds the run started."""
    clock.set(utc(2026, 5, 1, 10, 0))
    dead, alive = await make_engine(), await make_engine()
    await dead.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: x}"))
    clock.set(utc(2026, 5, 1, 11, 0))
    [claimed] = await dead.timers.claim_due(clock.now(), 10, timedelta(seconds=60))
    await dead.start_run(
        TENANT,
        "report",
        {"region": "x"},
        "system:schedule",
        idempotency_key=fire_key("report", claimed.due_at),
    )

    clock.advance(timedelta(seconds=30))
    await alive.run_until_idle()  # still held by the dead replica's claim
    assert await alive.timers.schedules(TENANT) == {"report": utc(2026, 5, 1, 11, 0)}
    clock.advance(timedelta(seconds=31))
    await alive.run_until_idle()
    assert len(await runs(alive)) == 1
    assert await next_fire(alive) == utc(2026, 5, 1, 12, 0)


async def test_a_new_version_applied_while_a_fire_is_in_hand_wins(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    engine = await make_engine()
    await engine.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: x}"))
    clock.set(utc(2026, 5, 1, 11, 0))
    [claimed] = await engine.timers.claim_due(clock.now(), 10, timedelta(seconds=60))
    await engine.apply_definition(TENANT, workflow('cron: "0 20 * * *"\ninputs: {region: x}'))
    assert not await engine.timers.advance_schedule(claimed, utc(2026, 5, 1, 12, 0))
    assert await next_fire(engine) == utc(2026, 5, 1, 20, 0)


async def test_schedules_are_per_tenant(engine: Engine, clock: ManualClock) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    await engine.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: x}"))
    await engine.apply_definition("T2", workflow("every: 2h\ninputs: {region: y}"))
    assert [s.expression for s in await engine.list_schedules(TENANT)] == ["1h"]
    assert [s.expression for s in await engine.list_schedules("T2")] == ["2h"]
    clock.set(utc(2026, 5, 1, 11, 0))
    await engine.run_until_idle()
    assert len(await runs(engine)) == 1
    assert (await engine.list_runs("T2", workflow="report")).runs == []


async def test_a_schedule_left_unarmed_by_a_crash_is_armed_when_listed(
    engine: Engine, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    await engine.apply_definition(TENANT, workflow("every: 1h\ninputs: {region: x}"))
    await engine.timers.arm_schedule(TENANT, "report", None)  # as if the apply stopped half-way
    assert await next_fire(engine) == utc(2026, 5, 1, 11, 0)
    assert (await engine.timers.schedules(TENANT)) == {"report": utc(2026, 5, 1, 11, 0)}
