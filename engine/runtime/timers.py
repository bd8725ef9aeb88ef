"""Durable timers: the rows live in the database; this process only decides when to look.

A sweep claims every due timer (atomically, with a lease, so across processes one claimer gets
each) and fires it into its run in the same transaction that deletes it. APScheduler wakes the
process for the sweep: one date job at the earliest due timer, re-armed after every sweep and
whenever a commit arms an earlier one, plus an interval job that catches timers armed by other
processes. Time comes from the injected clock; APScheduler only turns "in N seconds" into its own
wall-clock run date.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.commands import Timer
from engine.ports import Clock, RunChange, TimerStore
from engine.runtime.applier import RunApplier, Work
from engine.triggers import TimerFired

log = logging.getLogger(__name__)

SCHEDULE_KIND = "schedule"
RETRY_SOON = timedelta(milliseconds=100)  # a due timer someone else was claiming: look again
FireSchedules = Callable[[Sequence[Timer]], Awaitable[list[tuple[Timer, Exception]]]]

WAKE_JOB = "countersign-timer-wakeup"
SWEEP_JOB = "countersign-timer-sweep"


class WakeupScheduler:
    """A small typed face of APScheduler's AsyncIOScheduler for the two jobs we need."""

    def __init__(self, job: Callable[[], Awaitable[object]], scheduler: Any = None) -> None:
        self._job = job
        self._scheduler: Any = scheduler
        self._owned = scheduler is None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self, sweep_every: float) -> None:
        if self._scheduler is None:
            self._scheduler = AsyncIOScheduler(timezone=UTC)
            # APScheduler logs every run of the sweep at INFO; keep that out of the app's log
            # unless someone configured the logger on purpose.
            noisy = logging.getLogger("apscheduler")
            if noisy.level == logging.NOTSET:
                noisy.setLevel(logging.WARNING)
        self._scheduler.add_job(
            self._job,
            "interval",
            seconds=sweep_every,
            id=SWEEP_JOB,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        if not self._scheduler.running:
            self._scheduler.start()

    def wake_in(self, seconds: float) -> None:
        if not self.running:  # stopped while a sweep was finishing
            return
        # APScheduler schedules on the wall clock; the delay itself comes from our clock.
        run_date = datetime.now(UTC) + timedelta(seconds=max(seconds, 0.0))
        self._scheduler.add_job(
            self._job,
            "date",
            run_date=run_date,
            id=WAKE_JOB,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def cancel_wake(self) -> None:
        if self.running and self._scheduler.get_job(WAKE_JOB) is not None:
            self._scheduler.remove_job(WAKE_JOB)

    def stop(self) -> None:
        if self._scheduler is None:
            return
        for job_id in (WAKE_JOB, SWEEP_JOB):
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)
        if self._owned and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


class TimerService:
    def __init__(
        self,
        timers: TimerStore,
        applier: RunApplier,
        clock: Clock,
        *,
        scheduler: Any = None,
        batch_size: int = 200,
        lease: timedelta = timedelta(seconds=60),
        sweep_every: float = 5.0,
        fire_schedules: FireSchedules | None = None,
    ) -> None:
        self.timers = timers
        self.applier = applier
        self.clock = clock
        self.batch_size = batch_size
        self.lease = lease
        self.sweep_every = sweep_every
        self._wakeups = WakeupScheduler(self._scheduled_sweep, scheduler)
        self._armed_for: datetime | None = None  # when the date job will sweep, in clock time
        # Timers of kind "schedule" start runs rather than move one (engine.runtime.schedules).
        self.fire_schedules = fire_schedules
        self._sweeping = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self._again = False

    @property
    def next_wakeup(self) -> datetime | None:
        """When this process will next look at the timers (clock time), besides the interval
        sweep: the only thing about pending timers it holds in memory."""
        return self._armed_for

    async def start(self) -> None:
        """Fire what is overdue (recovery after a restart), then keep waking up for timers."""
        self._wakeups.start(self.sweep_every)
        await self.sweep()

    async def stop(self) -> None:
        self._wakeups.stop()
        self._armed_for = None
        self._again = False
        if self._sweeper is not None:  # let a sweep in flight record what it fired
            await self._sweeper
            self._sweeper = None
        async with self._sweeping:
            pass

    async def sweep(self) -> int:
        """Fire every due timer; returns how many were claimed."""
        async with self._sweeping:
            fired = 0
            while True:
                due = await self.timers.claim_due(self.clock.now(), self.batch_size, self.lease)
                if not due:
                    break
                works = [
                    Work(t.tenant_id, t.run_id, TimerFired(timer=t), fired_timer=t.id)
                    for t in due
                    if t.kind != SCHEDULE_KIND
                ]
                await self._fire_schedules([t for t in due if t.kind == SCHEDULE_KIND])
                for work, exc in await self.applier.apply_batch(works):
                    log.error(
                        "timer %s of run %s could not fire (%s); it fires after its lease ends",
                        work.fired_timer,
                        work.run_id,
                        exc,
                    )
                fired += len(due)
                if len(due) < self.batch_size:
                    break
            if self._wakeups.running:
                await self._rearm(fired)
            return fired

    async def _fire_schedules(self, due: list[Timer]) -> None:
        if not due:
            return
        if self.fire_schedules is None:
            log.error("%d schedule timers are due but nothing fires schedules here", len(due))
            return
        for timer, exc in await self.fire_schedules(due):
            log.error(
                "schedule timer %s could not fire (%s); it fires after its lease ends",
                timer.id,
                exc,
            )

    async def _scheduled_sweep(self) -> None:
        """APScheduler's job. It only starts the sweeper and returns: the sweep re-arms this job
        while it runs, and APScheduler skips a job whose previous run has not returned (the
        wake-up would fall back to the interval sweep, seconds late); and a job is cancelled at
        shutdown, while a sweep must finish recording what it claimed."""
        self._again = True
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_while_woken(), name="timer-sweep")

    async def _sweep_while_woken(self) -> None:
        while self._again:  # woken again during a sweep: go round once more
            self._again = False
            try:
                await self.sweep()
            except Exception:
                log.exception("timer sweep failed; the next one tries again")

    async def _rearm(self, fired: int) -> None:
        due = await self.timers.next_due()
        now = self.clock.now()
        if due is None:
            self._armed_for = None
            self._wakeups.cancel_wake()
            return
        if due <= now and not fired:
            # Due, yet this sweep claimed nothing: another process's claim was in flight (SKIP
            # LOCKED passed over its rows). `next_due` leaves out held timers, so this one is
            # free or about to be fired elsewhere: look again shortly, not after the interval.
            self._arm(now + RETRY_SOON, now)
            return
        self._arm(max(due, now), now)  # due already: armed while we swept, go again at once

    def _arm(self, due: datetime, now: datetime) -> None:
        self._armed_for = due
        self._wakeups.wake_in((due - now).total_seconds())

    def on_commit(self, changes: Sequence[RunChange]) -> None:
        """Commit hook: wake up earlier when a change armed a timer before the next wake-up."""
        due = min((t.due_at for c in changes for t in c.decision.timers), default=None)
        if due is not None:
            self.armed(due)

    def armed(self, due: datetime) -> None:
        """A timer due at `due` was just armed here: wake up for it if that is earlier."""
        if self._wakeups.running and (self._armed_for is None or due < self._armed_for):
            self._arm(due, self.clock.now())
