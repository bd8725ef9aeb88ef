"""A command a handler puts off to a set time (a turn kept under a rate limit) comes back at
exactly that time, however often it is put off: it is not a failure, so its back-off does not
grow and it never comes near the dead-command list. Without a set time the back-off doubles."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from engine.commands import Command
from engine.ports import Outcome, Succeeded, Unavailable
from engine.runtime.applier import RunApplier
from engine.runtime.dispatcher import MAX_ATTEMPTS, Dispatcher
from engine.runtime.router import ROUTED_COMMANDS
from engine.testing import ManualClock, MemoryStorage
from storage import Storage
from tests.storage.builders import T0, new_run

TURN = timedelta(seconds=7)  # how far off each kept turn is
PUT_OFF = MAX_ATTEMPTS + 2  # more than enough claims to bury a command that kept failing


class Scripted:
    """Puts each command off `put_off` times (to TURN ahead), then is unreachable
    `unreachable` times (the ordinary back-off), then performs it. Notes when it was tried."""

    def __init__(self, clock: ManualClock, put_off: int, unreachable: int) -> None:
        self.clock, self.put_off, self.unreachable = clock, put_off, unreachable
        self.tried: defaultdict[str, list[datetime]] = defaultdict(list)

    async def perform(self, command: Command) -> Outcome:
        tried = self.tried[command.key]
        tried.append(self.clock.now())
        if len(tried) <= self.put_off:
            return Unavailable("the next turn is in 7.0 s", retry_at=self.clock.now() + TURN)
        if len(tried) <= self.put_off + self.unreachable:
            return Unavailable("unreachable", retry_after=5.0)
        return Succeeded()


async def started(
    store: MemoryStorage | Storage, clock: ManualClock, handler: Scripted
) -> tuple[Dispatcher, list[str]]:
    applier = RunApplier(store.definitions, store.runs, store.outbox, store.timers, clock)
    dispatcher = Dispatcher(store.outbox, dict.fromkeys(ROUTED_COMMANDS, handler), applier, clock)
    change = new_run()
    await store.runs.commit([change])
    assert await dispatcher.dispatch_once() == len(change.decision.commands)
    return dispatcher, [c.key for c in change.decision.commands]


async def tried_at(dispatcher: Dispatcher, clock: ManualClock, after: timedelta) -> int:
    """Let `after` pass, stopping just short of it first: how many commands were tried then."""
    clock.advance(after - timedelta(milliseconds=1))
    assert await dispatcher.dispatch_once() == 0  # not a moment early
    clock.advance(timedelta(milliseconds=1))
    return await dispatcher.dispatch_once()


async def test_a_put_off_command_comes_back_exactly_at_its_turn_however_often(
    store_backend: MemoryStorage | Storage,
) -> None:
    clock = ManualClock(T0)
    handler = Scripted(clock, put_off=PUT_OFF, unreachable=0)
    dispatcher, keys = await started(store_backend, clock, handler)
    for _ in range(PUT_OFF):
        assert dispatcher.idle_wait(poll_every=30.0) == TURN.total_seconds()  # woken for it
        assert await tried_at(dispatcher, clock, TURN) == len(keys)
    await dispatcher.flush()
    for key in keys:
        assert handler.tried[key] == [T0 + TURN * n for n in range(PUT_OFF + 1)]
    assert await dispatcher.dispatch_once() == 0  # performed: nothing left
    assert dispatcher.idle_wait(poll_every=30.0) == 30.0
    assert await store_backend.outbox.dead() == []


async def test_being_put_off_does_not_grow_the_back_off_of_a_later_outage(
    store_backend: MemoryStorage | Storage,
) -> None:
    clock = ManualClock(T0)
    handler = Scripted(clock, put_off=PUT_OFF, unreachable=2)
    dispatcher, keys = await started(store_backend, clock, handler)
    for _ in range(PUT_OFF):
        assert await tried_at(dispatcher, clock, TURN) == len(keys)
    # Unreachable now: 5 s as for a first failure, then doubled, as without being put off.
    assert await tried_at(dispatcher, clock, timedelta(seconds=5)) == len(keys)
    assert await tried_at(dispatcher, clock, timedelta(seconds=10)) == len(keys)
    await dispatcher.flush()
    assert await dispatcher.dispatch_once() == 0
    assert all(len(handler.tried[key]) == PUT_OFF + 3 for key in keys)


async def test_without_a_set_time_the_back_off_doubles(
    store_backend: MemoryStorage | Storage,
) -> None:
    clock = ManualClock(T0)
    handler = Scripted(clock, put_off=0, unreachable=3)
    dispatcher, keys = await started(store_backend, clock, handler)
    assert dispatcher.idle_wait(poll_every=30.0) == 30.0  # nothing to wake for early
    for delay in (5, 10, 20):
        assert await tried_at(dispatcher, clock, timedelta(seconds=delay)) == len(keys)
    await dispatcher.flush()
    assert await dispatcher.dispatch_once() == 0
