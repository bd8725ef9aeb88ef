"""The dispatcher's guarantees: nothing lost when a handler fails or is missing, outcomes of many
runs committed together, and a conflicting batch redone run by run."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from engine.commands import CallHttp, Command
from engine.errors import ConcurrencyConflict
from engine.ports import Outcome, RunChange, Succeeded, Unavailable
from engine.runtime.applier import RunApplier
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.router import ROUTED_COMMANDS
from engine.runtime.service import Engine
from engine.testing import ManualClock, MemoryStorage
from outbound.http import HttpHandler
from storage import Storage
from tests.runtime.conftest import TENANT, EngineFactory, Target, setup
from tests.storage.builders import T0, new_run

ONE_CALL = """
name: one-call
steps:
  - id: call
    type: http
    url: TARGET/call
"""


class Flaky:
    """Raises (a bug, a dropped connection) the first `failures` times, then performs."""

    def __init__(self, http: HttpHandler, failures: int, outcome: Outcome | None = None) -> None:
        self.http, self.failures, self.outcome = http, failures, outcome

    async def perform(self, command: Command) -> Outcome:
        if self.failures:
            self.failures -= 1
            if self.outcome is not None:
                return self.outcome
            raise RuntimeError("boom")
        return await self.http.perform(command)


async def test_a_handler_that_raises_is_logged_and_retried_later(
    engine: Engine,
    target: Target,
    clock: ManualClock,
    http: HttpHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine.register("call_http", Flaky(http, failures=2))
    await setup(engine, target, ONE_CALL)
    run = await engine.start_run(TENANT, "one-call", {}, "UREQ")
    await engine.run_until_idle()
    key = f"{run.run_id}:call:1"
    assert f"call_http {key} raised" in caplog.text
    assert (await engine.get_run(TENANT, run.run_id)).steps["call"].status == "running"

    clock.advance(timedelta(seconds=5))  # the first redelivery
    await engine.run_until_idle()
    assert target.requests == []
    clock.advance(timedelta(seconds=10))  # the delay doubles with every failed claim
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "completed"
    assert run.steps["call"].attempt == 1  # unreachable is not a failed attempt of the step
    assert target.keys() == {key: 1}


async def test_an_unavailable_service_is_retried_without_charging_an_attempt(
    engine: Engine, target: Target, clock: ManualClock, http: HttpHandler
) -> None:
    engine.register("call_http", Flaky(http, failures=1, outcome=Unavailable("down", 60)))
    await setup(engine, target, ONE_CALL)
    run = await engine.start_run(TENANT, "one-call", {}, "UREQ")
    await engine.run_until_idle()
    clock.advance(timedelta(seconds=59))
    assert await engine.run_until_idle() == 0
    clock.advance(timedelta(seconds=1))
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert (run.status, run.steps["call"].attempt) == ("completed", 1)


async def test_a_command_without_a_handler_waits_for_one(
    store_backend: MemoryStorage | Storage,
    clock: ManualClock,
    target: Target,
    http: HttpHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = Engine.from_storage(store_backend, clock=clock)  # no call_http handler yet
    await setup(engine, target, ONE_CALL)
    run = await engine.start_run(TENANT, "one-call", {}, "UREQ")
    with caplog.at_level(logging.ERROR):
        await engine.run_until_idle()
    assert "no handler is registered for call_http" in caplog.text
    engine.register("call_http", http)
    clock.advance(timedelta(seconds=30))
    await engine.run_until_idle()
    assert (await engine.get_run(TENANT, run.run_id)).status == "completed"


class CountingRuns:
    """The run store, counting the commits and how many run changes each carried."""

    def __init__(self, runs: Any) -> None:
        self.runs = runs
        self.commits: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runs, name)

    async def commit(self, changes: Sequence[RunChange]) -> None:
        await self.runs.commit(changes)
        self.commits.append(len(changes))


async def test_outcomes_of_many_runs_are_committed_together(
    store_backend: MemoryStorage | Storage, clock: ManualClock, target: Target, http: HttpHandler
) -> None:
    runs = CountingRuns(store_backend.runs)
    engine = Engine(
        definitions=store_backend.definitions,
        runs=runs,
        outbox=store_backend.outbox,
        timers=store_backend.timers,
        aways=store_backend.aways,
        clock=clock,
        handlers={"call_http": http},
    )
    await setup(engine, target, ONE_CALL)
    started = [await engine.start_run(TENANT, "one-call", {}, "UREQ") for _ in range(20)]
    runs.commits.clear()
    await engine.run_until_idle()
    assert runs.commits == [20]
    for run in started:
        assert (await engine.get_run(TENANT, run.run_id)).status == "completed"


class CancelsMeanwhile:
    """While performing one run's call, another process cancels that run."""

    def __init__(self, http: HttpHandler, other: Engine, victim: str) -> None:
        self.http, self.other, self.victim = http, other, victim

    async def perform(self, command: Command) -> Outcome:
        assert isinstance(command, CallHttp)
        if command.run_id == self.victim:
            await self.other.cancel(TENANT, command.run_id, "UREQ", reason="meanwhile")
        return await self.http.perform(command)


async def test_a_batch_that_conflicts_is_redone_run_by_run(
    make_engine: EngineFactory,
    target: Target,
    http: HttpHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, other = await make_engine(), await make_engine()
    await setup(one, target, ONE_CALL)
    runs = [await one.start_run(TENANT, "one-call", {}, "UREQ") for _ in range(3)]
    victim = runs[1].run_id
    one.register("call_http", CancelsMeanwhile(http, other, victim))
    with caplog.at_level(logging.DEBUG, logger="engine.runtime.applier"):
        await one.run_until_idle()
    assert "a batch of 3 run changes conflicted; deciding it again" in caplog.text

    final = {r.run_id: (await one.get_run(TENANT, r.run_id)).status for r in runs}
    assert final == {runs[0].run_id: "completed", victim: "cancelled", runs[2].run_id: "completed"}
    assert len(target.requests) == 3  # the victim's call went out, and its late outcome is ignored


class RefusesBatches(CountingRuns):
    """Refuses the first `times` multi-run commits as if another process had won the race."""

    def __init__(self, runs: Any, times: int) -> None:
        super().__init__(runs)
        self.times = times

    async def commit(self, changes: Sequence[RunChange]) -> None:
        if len(changes) > 1 and self.times:
            self.times -= 1
            raise ConcurrencyConflict()
        await super().commit(changes)


async def test_a_batch_that_keeps_conflicting_is_applied_run_by_run(
    store_backend: MemoryStorage | Storage,
    clock: ManualClock,
    target: Target,
    http: HttpHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = RefusesBatches(store_backend.runs, times=2)
    engine = Engine(
        definitions=store_backend.definitions,
        runs=runs,
        outbox=store_backend.outbox,
        timers=store_backend.timers,
        aways=store_backend.aways,
        clock=clock,
        handlers={"call_http": http},
    )
    await setup(engine, target, ONE_CALL)
    started = [await engine.start_run(TENANT, "one-call", {}, "UREQ") for _ in range(4)]
    with caplog.at_level(logging.DEBUG, logger="engine.runtime.applier"):
        await engine.run_until_idle()
    assert "a batch of 4 run changes conflicted again; one by one" in caplog.text
    assert runs.commits[-4:] == [1, 1, 1, 1]
    for run in started:
        assert (await engine.get_run(TENANT, run.run_id)).status == "completed"
    assert len(target.requests) == 4


class Count:
    """Performs any command instantly, counting how often each key was performed."""

    def __init__(self) -> None:
        self.performed: Counter[str] = Counter()

    async def perform(self, command: Command) -> Outcome:
        self.performed[command.key] += 1
        return Succeeded()


@pytest.mark.parametrize("late", [False, True])
async def test_a_handed_over_command_is_performed_once_even_past_its_lease(
    store_backend: MemoryStorage | Storage, late: bool
) -> None:
    clock = ManualClock(T0)
    lease = timedelta(seconds=60)
    count = Count()
    applier = RunApplier(
        store_backend.definitions,
        store_backend.runs,
        store_backend.outbox,
        store_backend.timers,
        clock,
    )
    handlers = dict.fromkeys(ROUTED_COMMANDS, count)
    dispatcher = Dispatcher(store_backend.outbox, handlers, applier, clock, lease=lease)
    change = new_run()
    change.commands_leased_until = clock.now() + lease  # committed by a running engine
    await store_backend.runs.commit([change])
    dispatcher.hand_off([change])
    if late:  # a backlog longer than the lease: another process may claim it now
        clock.advance(lease + timedelta(seconds=1))
        assert await store_backend.outbox.claim(clock.now(), 10, lease)  # ... and does
        clock.advance(lease + timedelta(seconds=1))  # then dies; the lease runs out again
    assert await dispatcher.dispatch_once() == len(change.decision.commands)
    await dispatcher.flush()
    keys = [c.key for c in change.decision.commands]
    assert count.performed == Counter(keys)  # by this process exactly once each
    assert await dispatcher.dispatch_once() == 0  # done: nothing left to claim
