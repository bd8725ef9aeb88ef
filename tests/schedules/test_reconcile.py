"""A scheduled workflow never stays without its timer: a definition stored without one (the apply
crashed before arming it, or the row was lost) gets it at start-up and then every few minutes,
where the apply would have put it, so a fire missed meanwhile follows the misfire rule; the timers
of workflows disabled or no longer scheduled go. On every backend, with a manual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.definitions import load_definition
from engine.runtime.schedules import ScheduleService
from engine.runtime.service import Engine
from engine.schedules import fire_key
from engine.state import RunState
from engine.testing import ManualClock, MemoryStorage
from storage import Storage
from tests.schedules.conftest import TENANT, EngineFactory, workflow


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def runs(engine: Engine, name: str = "report", tenant: str = TENANT) -> list[RunState]:
    page = await engine.list_runs(tenant, workflow=name, limit=500)
    return sorted(page.runs, key=lambda r: r.started_at)


async def crashed_apply(engine: Engine, text: str, tenant: str = TENANT) -> None:
    """Store a definition without arming its timer, as a crash between the two leaves it."""
    await engine.definitions.apply(tenant, load_definition(text), text, engine.clock.now())


async def restart(make_engine: EngineFactory) -> Engine:
    engine = await make_engine()
    await engine.start()  # reconciles, then fires what is overdue
    await engine.stop()
    return engine


async def test_a_definition_stored_without_its_timer_gets_it_at_start_up_and_fires_on_time(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 4, 10, 0))
    await crashed_apply(await make_engine(), workflow('cron: "0 12 * * *"\ninputs: {region: x}'))

    clock.set(utc(2026, 5, 4, 10, 30))
    engine = await restart(make_engine)
    assert await engine.timers.schedules(TENANT) == {"report": utc(2026, 5, 4, 12, 0)}

    clock.set(utc(2026, 5, 4, 11, 59))
    await engine.run_until_idle()
    assert await runs(engine) == []
    clock.set(utc(2026, 5, 4, 12, 0))
    await engine.run_until_idle()
    [run] = await runs(engine)
    assert run.started_at == utc(2026, 5, 4, 12, 0)
    assert await engine.runs.run_for_idempotency_key(
        TENANT, fire_key("report", utc(2026, 5, 4, 12, 0))
    ) == (run.run_id)
    assert await engine.timers.schedules(TENANT) == {"report": utc(2026, 5, 5, 12, 0)}


async def test_fires_missed_while_the_timer_was_missing_run_once_under_run_once(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    await crashed_apply(await make_engine(), workflow("every: 1h\ninputs: {region: x}"))

    clock.set(utc(2026, 5, 1, 15, 20))  # 11:00 .. 15:00 passed without a timer
    engine = await restart(make_engine)
    [run] = await runs(engine)
    assert run.started_at == utc(2026, 5, 1, 15, 20)
    assert await engine.runs.run_for_idempotency_key(
        TENANT, fire_key("report", utc(2026, 5, 1, 11, 0))
    ) == (run.run_id)  # the first missed fire, as the timer would have fired it
    assert await engine.timers.schedules(TENANT) == {"report": utc(2026, 5, 1, 16, 0)}
    await restart(make_engine)  # a second start-up changes nothing
    assert len(await runs(engine)) == 1


async def test_fires_missed_while_the_timer_was_missing_do_not_run_under_skip(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    await crashed_apply(
        await make_engine(), workflow("every: 1h\nmisfire: skip\ninputs: {region: x}")
    )

    clock.set(utc(2026, 5, 1, 15, 20))
    engine = await restart(make_engine)
    assert await runs(engine) == []
    assert await engine.timers.schedules(TENANT) == {"report": utc(2026, 5, 1, 16, 0)}
    clock.set(utc(2026, 5, 1, 16, 0))
    await engine.run_until_idle()
    assert [r.started_at for r in await runs(engine)] == [utc(2026, 5, 1, 16, 0)]


async def test_under_skip_a_fire_missed_by_less_than_the_grace_still_runs(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    await crashed_apply(
        await make_engine(), workflow("every: 1h\nmisfire: skip\ninputs: {region: x}")
    )
    clock.set(utc(2026, 5, 1, 11, 3))  # grace is 5 minutes
    engine = await restart(make_engine)
    assert [r.started_at for r in await runs(engine)] == [utc(2026, 5, 1, 11, 3)]


async def test_timers_of_disabled_or_unscheduled_workflows_are_removed_and_others_kept(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    first = await make_engine()
    for tenant in (TENANT, "T2"):
        for name in ("kept", "paused", "dropped"):
            await first.apply_definition(tenant, workflow("every: 1h\ninputs: {region: x}", name))
        # Crashes after the definition changed, before its timer did:
        await first.definitions.set_disabled(tenant, "paused", True)
        await crashed_apply(first, workflow("every: 1h", "dropped").split("schedule:")[0], tenant)
    await first.timers.arm_schedule(TENANT, "ghost", utc(2026, 5, 1, 10, 30))  # no such workflow
    await first.timers.arm_schedule("T2", "kept", utc(2026, 5, 1, 10, 45))  # armed elsewhere

    engine = await restart(make_engine)
    assert await engine.timers.all_schedules() == {
        (TENANT, "kept"): utc(2026, 5, 1, 11, 0),
        ("T2", "kept"): utc(2026, 5, 1, 10, 45),  # an armed timer is never moved
    }
    clock.set(utc(2026, 5, 1, 12, 0))
    await engine.run_until_idle()
    for tenant in (TENANT, "T2"):
        assert len(await runs(engine, "kept", tenant)) == 1
        assert await runs(engine, "paused", tenant) == []
        assert await runs(engine, "dropped", tenant) == []


async def test_two_engines_reconciling_at_once_arm_one_timer_and_start_one_run_per_fire(
    make_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(utc(2026, 5, 1, 10, 0))
    one, two = await make_engine(), await make_engine()
    await crashed_apply(one, workflow("every: 15m\ninputs: {region: x}"))
    clock.set(utc(2026, 5, 1, 10, 16))  # the 10:15 fire was missed (within its grace)
    await asyncio.gather(one.start(), two.start())
    await asyncio.gather(one.stop(), two.stop())
    assert await one.timers.all_schedules() == {(TENANT, "report"): utc(2026, 5, 1, 10, 30)}
    for _ in range(6):
        clock.advance(timedelta(minutes=15))
        await asyncio.gather(one.tick(), two.tick())
        await asyncio.gather(one.start(), two.start())  # and reconcile again, both at once
        await asyncio.gather(one.stop(), two.stop())
    fires = [utc(2026, 5, 1, 10, 15) + timedelta(minutes=15 * i) for i in range(7)]
    assert len(await runs(one)) == len(fires)
    for at in fires:
        assert await one.runs.run_for_idempotency_key(TENANT, fire_key("report", at)) is not None


async def test_two_reconcilers_at_once_arm_a_missing_timer_once(
    store_backend: MemoryStorage | Storage, clock: ManualClock
) -> None:
    text = workflow("every: 1h\ninputs: {region: x}")
    await store_backend.definitions.apply(TENANT, load_definition(text), text, clock.now())
    one, two = service(store_backend, clock), service(store_backend, clock)
    done = await asyncio.gather(one.reconcile(), two.reconcile())
    assert sorted(len(d.armed) for d in done) == [0, 1]
    assert await store_backend.timers.schedules(TENANT) == {
        "report": clock.now() + timedelta(hours=1)
    }


async def test_the_periodic_pass_rearms_a_timer_lost_while_running(
    store_backend: MemoryStorage | Storage, clock: ManualClock
) -> None:
    text = workflow("every: 1h\ninputs: {region: x}")
    await store_backend.definitions.apply(TENANT, load_definition(text), text, clock.now())
    woken: list[datetime] = []
    reconciler = service(store_backend, clock, woken.append)
    await reconciler.start(every=0.01)  # the start-up pass
    try:
        due = clock.now() + timedelta(hours=1)
        assert woken == [due]
        await store_backend.timers.arm_schedule(TENANT, "report", None)  # the row is lost
        for _ in range(2):  # the second pass began after the row was gone
            reconciler.reconciled.clear()
            async with asyncio.timeout(10):  # only stops a broken test from hanging
                await reconciler.reconciled.wait()
        assert await store_backend.timers.schedules(TENANT) == {"report": due}
        assert woken == [due, due]
    finally:
        await reconciler.stop()


def service(
    backend: MemoryStorage | Storage, clock: ManualClock, wake: Any = lambda due: None
) -> ScheduleService:
    async def no_runs(*args: Any, **kwargs: Any) -> RunState:
        raise AssertionError("reconciling starts no run")

    return ScheduleService(backend.definitions, backend.timers, clock, no_runs, wake)
