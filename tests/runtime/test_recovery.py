"""Crashes and restarts: commands are performed at least once with the same idempotency key,
overdue timers fire after a restart, and two processes on one database agree."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from engine.commands import Command, Timer
from engine.decider.decision import Decision
from engine.ports import Outcome, RunChange
from engine.runtime.service import Engine, RuntimeSettings
from engine.testing import ManualClock
from outbound.http import HttpHandler
from tests.runtime.conftest import TENANT, EngineFactory, Target, finished, setup

TWO_CALLS = """
name: two-calls
steps:
  - id: first
    type: http
    url: TARGET/first
  - id: second
    type: http
    url: TARGET/second
"""


class Crash(BaseException):
    """The process dies: nothing after this point runs."""


class DieAfterPerforming:
    """Performs the HTTP call for real, then the process 'dies' before recording the outcome."""

    def __init__(self, http: HttpHandler) -> None:
        self.http = http

    async def perform(self, command: Command) -> Outcome:
        await self.http.perform(command)
        raise Crash


async def test_a_crash_between_perform_and_record_repeats_the_call_with_its_key(
    make_engine: EngineFactory, target: Target, clock: ManualClock, http: HttpHandler
) -> None:
    doomed = await make_engine()
    await setup(doomed, target, TWO_CALLS)
    doomed.register("call_http", DieAfterPerforming(http))
    run = await doomed.start_run(TENANT, "two-calls", {}, "UREQ")
    with contextlib.suppress(Crash):
        await doomed.tick()
    assert target.paths() == ["POST /first"]

    restarted = await make_engine()
    assert await restarted.run_until_idle() == 0  # the dead process still holds the lease
    clock.advance(restarted.settings.command_lease)
    await restarted.start()
    run = await finished(restarted, run.run_id)

    assert run.status == "completed"
    assert target.paths() == ["POST /first", "POST /first", "POST /second"]
    first_key = f"{run.run_id}:first:1"
    assert [r.key for r in target.requests[:2]] == [first_key, first_key]
    assert run.steps["first"].attempt == 1  # a redelivery is not a new attempt


WAITING = """
name: waiting
steps:
  - id: pause
    type: wait
    duration: 2h
  - id: after
    type: http
    url: TARGET/after
"""


async def test_overdue_timers_fire_at_start_after_a_restart(
    make_engine: EngineFactory, target: Target, clock: ManualClock
) -> None:
    before = await make_engine()
    await setup(before, target, WAITING)
    await before.start()
    run = await before.start_run(TENANT, "waiting", {}, "UREQ")
    await before.stop()

    clock.advance(timedelta(hours=3))  # the process was down while the timer came due
    after = await make_engine()
    await after.start()
    run = await finished(after, run.run_id)

    assert run.status == "completed"
    assert target.paths() == ["POST /after"]
    timeline = [e.event.type for e in await after.timeline(TENANT, run.run_id)]
    assert timeline.count("step_completed") == 2


async def test_the_interval_sweep_fires_timers_armed_elsewhere(
    store_backend: object, target: Target, clock: ManualClock, http: HttpHandler
) -> None:
    engine = Engine.from_storage(
        store_backend,  # type: ignore[arg-type]
        clock=clock,
        handlers={"call_http": http},
        settings=RuntimeSettings(sweep_every=0.05, poll_every=0.05),
    )
    await setup(engine, target, WAITING)
    run = await engine.start_run(TENANT, "waiting", {}, "UREQ")  # armed before start()
    await engine.start()
    try:
        clock.advance(timedelta(hours=2))  # due now, but nothing told this process
        run = await finished(engine, run.run_id)
    finally:
        await engine.stop()
    assert run.status == "completed"


SHORT_WAIT = """
name: short-wait
steps:
  - id: pause
    type: wait
    duration: 1s
"""


async def test_the_wakeup_job_fires_the_next_timer(
    make_engine: EngineFactory, target: Target, clock: ManualClock
) -> None:
    engine = await make_engine()
    await setup(engine, target, SHORT_WAIT)
    await engine.start()
    run = await engine.start_run(TENANT, "short-wait", {}, "UREQ")
    clock.advance(timedelta(seconds=1))  # the scheduler wakes one real second after arming
    run = await finished(engine, run.run_id)
    assert run.status == "completed"


VOTE = """
name: vote
steps:
  - id: vote
    type: approval
    approvers: [UAPP1, UAPP2, UAPP3, UAPP4]
    policy: all
"""


async def test_two_processes_deciding_at_once_lose_nothing(
    make_engine: EngineFactory, target: Target
) -> None:
    one, two = await make_engine(), await make_engine()
    await setup(one, target, VOTE)
    run = await one.start_run(TENANT, "vote", {}, "UREQ")
    await one.run_until_idle()
    # Warm both processes' caches, so both decide on the same (soon stale) state.
    await one.get_run(TENANT, run.run_id)
    await asyncio.gather(
        one.decide(TENANT, run.run_id, "vote", "UAPP1", "approve"),
        two.decide(TENANT, run.run_id, "vote", "UAPP2", "approve"),
        one.decide(TENANT, run.run_id, "vote", "UAPP3", "approve"),
        two.decide(TENANT, run.run_id, "vote", "UAPP4", "approve"),
    )
    run = await two.get_run(TENANT, run.run_id)
    assert sorted(v.actor for v in run.steps["vote"].votes) == ["UAPP1", "UAPP2", "UAPP3", "UAPP4"]
    assert run.status == "completed"


async def test_a_timer_the_run_no_longer_expects_is_dropped(
    engine: Engine, target: Target, clock: ManualClock
) -> None:
    await setup(engine, target, VOTE)
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    stray = Timer(
        id=f"{run.run_id}:vote:retry:9",
        tenant_id=TENANT,
        run_id=run.run_id,
        due_at=clock.now() + timedelta(minutes=5),
        kind="retry",
        step_id="vote",
        attempt=9,
    )
    state = await engine.get_run(TENANT, run.run_id)
    await engine.runs.commit([RunChange(state, state.seq, Decision(timers=[stray]))])
    assert await engine.timers.next_due() == stray.due_at

    clock.advance(timedelta(minutes=5))
    assert await engine.run_until_idle() == 1
    assert await engine.timers.next_due() is None
    assert (await engine.get_run(TENANT, run.run_id)).seq == state.seq  # nothing happened to it


async def test_two_running_processes_share_the_work_without_doing_it_twice(
    make_engine: EngineFactory, target: Target
) -> None:
    one, two = await make_engine(), await make_engine()
    await setup(one, target, TWO_CALLS)
    await one.start()
    await two.start()
    runs = await asyncio.gather(
        *((one if i % 2 else two).start_run(TENANT, "two-calls", {}, "UREQ") for i in range(20))
    )
    for run in runs:
        assert (await finished(one, run.run_id, two)).status == "completed"
    assert len(target.requests) == 40
    assert set(target.keys().values()) == {1}  # every call once, under its own key


async def test_an_engine_stopped_and_started_again_works_on(engine: Engine, target: Target) -> None:
    await setup(engine, target, TWO_CALLS)
    await engine.start()
    await engine.stop()
    await engine.start()
    run = await engine.start_run(TENANT, "two-calls", {}, "UREQ")
    assert (await finished(engine, run.run_id)).status == "completed"
