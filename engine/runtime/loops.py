"""`Loops`: the engine's background work (the outbox dispatcher, the timer wake-ups, the
schedules), built, started, stopped and ticked together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from engine.ports import Clock, CommandHandler, DefinitionStore, Outbox, TimerStore
from engine.runtime.applier import RunApplier
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.schedules import ScheduleService, StartRun
from engine.runtime.settings import RuntimeSettings
from engine.runtime.timers import TimerService


class Loops:
    def __init__(
        self,
        applier: RunApplier,
        definitions: DefinitionStore,
        outbox: Outbox,
        timers: TimerStore,
        handlers: Mapping[str, CommandHandler],
        clock: Clock,
        settings: RuntimeSettings,
        start_run: StartRun,
        scheduler: Any = None,
    ) -> None:
        self._applier = applier
        self.settings = s = settings
        # `handlers` is the engine's own dict: handlers registered later are performed too.
        self.dispatcher = Dispatcher(
            outbox,
            handlers,
            applier,
            clock,
            batch_size=s.batch_size,
            concurrency=s.concurrency,
            lease=s.command_lease,
        )
        self.schedules = ScheduleService(
            definitions, timers, clock, start_run, lambda at: self.timers.armed(at)
        )
        self.timers = TimerService(
            timers,
            applier,
            clock,
            scheduler=scheduler,
            batch_size=s.batch_size,
            lease=s.timer_lease,
            sweep_every=s.sweep_every,
            fire_schedules=self.schedules.fire,
        )
        # After each commit: its commands straight to this process's dispatcher, its timers to
        # the wake-ups (both hold the applier, so they are hooked to it once built).
        applier.commit_hooks += (self.dispatcher.hand_off, self.timers.on_commit)
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._workers:
            return
        # Before the recovery sweep, so a schedule timer lost in a crash is armed and, if it is
        # overdue, fired by that sweep under the misfire rule.
        await self.schedules.start(self.settings.reconcile_every)
        await self.timers.start()
        self.dispatcher.resume()
        # While the loops run, this process performs the commands it commits without claiming
        # them (a process that only commits, like the CLI, leaves them to be claimed).
        self._applier.command_lease = self.settings.command_lease
        self._workers = [
            asyncio.create_task(self.dispatcher.run(self.settings.poll_every), name=f"dispatch-{i}")
            for i in range(self.settings.workers)
        ]

    async def stop(self) -> None:
        self._applier.command_lease = None
        self.dispatcher.stop()
        await self.schedules.stop()
        await self.timers.stop()
        workers, self._workers = self._workers, []
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=self.settings.stop_grace)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.dispatcher.release()

    async def tick(self) -> int:
        dispatched = await self.dispatcher.dispatch_once()
        await self.dispatcher.flush()
        return dispatched + await self.timers.sweep()

    async def run_until_idle(self, max_ticks: int) -> int:
        total = 0
        for _ in range(max_ticks):
            done = await self.tick()
            if done == 0:
                return total
            total += done
        raise RuntimeError(f"the engine was still busy after {max_ticks} ticks")
