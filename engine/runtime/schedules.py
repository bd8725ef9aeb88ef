"""Scheduled starts at run time: keep each scheduled workflow's one timer armed, and fire it.

Arming follows the definitions: applying a version whose schedule changed (or that turns a
schedule on) arms its next fire from now; disabling removes the timer, enabling arms it again.
Firing is what the timer sweep hands over for timers of kind "schedule": start the run
(idempotent on the fire instant, see `engine.schedules`), then move the timer to the next fire
with a compare-and-set, so a re-arm that happened meanwhile wins and a fire is never lost: a
process that dies between the two leaves the claimed timer to fire again after its lease, and the
second firing finds the run the first one started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from engine import schedules
from engine.commands import Timer
from engine.definitions.models import Schedule
from engine.errors import EngineError, NotFound
from engine.ports import Clock, DefinitionStore, StoredDefinition, TimerStore
from engine.schedules import ScheduleInfo
from engine.state import RunState

log = logging.getLogger(__name__)


class StartRun(Protocol):
    async def __call__(
        self,
        tenant_id: str,
        workflow: str,
        inputs: dict[str, Any],
        requester: str,
        *,
        idempotency_key: str,
    ) -> RunState: ...


class ScheduleService:
    def __init__(
        self,
        definitions: DefinitionStore,
        timers: TimerStore,
        clock: Clock,
        start_run: StartRun,
        wake: Callable[[datetime], None],
    ) -> None:
        self.definitions = definitions
        self.timers = timers
        self.clock = clock
        self._start_run = start_run
        self._wake = wake

    # ------------------------------------------------------------ arming

    async def _latest(self, tenant_id: str, workflow: str) -> StoredDefinition | None:
        try:
            return await self.definitions.get(tenant_id, workflow)
        except NotFound:
            return None

    async def before_apply(self, tenant_id: str, workflow: str) -> Schedule | None:
        """The schedule in force before a new version is applied (None: none, or disabled)."""
        stored = await self._latest(tenant_id, workflow)
        if stored is None or stored.disabled:
            return None
        return stored.definition.schedule

    async def sync(self, tenant_id: str, workflow: str, *, keep: bool) -> datetime | None:
        """Make the workflow's timer match its latest version: none when it has no schedule or
        is disabled, else the next fire from now. With `keep`, an armed timer is left as it is
        (the schedule did not change). Returns the next fire."""
        stored = await self._latest(tenant_id, workflow)
        schedule = None if stored is None or stored.disabled else stored.definition.schedule
        if schedule is None:
            await self.timers.arm_schedule(tenant_id, workflow, None)
            return None
        if keep:
            armed = (await self.timers.schedules(tenant_id)).get(workflow)
            if armed is not None:
                return armed
        now = self.clock.now()
        due = schedules.next_fire(schedule, now, anchor=now)
        await self.timers.arm_schedule(tenant_id, workflow, due)
        if due is not None:
            self._wake(due)
        return due

    async def applied(
        self, tenant_id: str, workflow: str, before: Schedule | None, created: bool
    ) -> None:
        """After an apply: re-arm when the schedule changed, keep the timer when it did not."""
        after = await self.before_apply(tenant_id, workflow)
        await self.sync(tenant_id, workflow, keep=not created or before == after)

    async def list_all(self, tenant_id: str) -> list[ScheduleInfo]:
        """The tenant's scheduled workflows with their next fire, soonest first. A schedule
        found unarmed (its apply was cut short by a crash) is armed on the way."""
        armed = await self.timers.schedules(tenant_id)
        found: list[ScheduleInfo] = []
        for stored in await self.definitions.latest(tenant_id):
            schedule = stored.definition.schedule
            if schedule is None:
                continue
            due = armed.get(stored.name)
            if due is None and not stored.disabled:
                due = await self.sync(tenant_id, stored.name, keep=True)
            found.append(
                schedules.info(
                    tenant_id, stored.name, stored.version, schedule, stored.disabled, due
                )
            )
        return sorted(found, key=lambda i: (i.next_fire is None, i.next_fire or 0, i.workflow))

    # ------------------------------------------------------------ firing

    async def fire(self, timers: Sequence[Timer]) -> list[tuple[Timer, Exception]]:
        """Fire claimed schedule timers; returns those that could not (they fire again once
        their lease ends)."""
        failures: list[tuple[Timer, Exception]] = []
        for timer in timers:
            try:
                await self._fire(timer)
            except Exception as exc:
                failures.append((timer, exc))
        return failures

    async def _fire(self, timer: Timer) -> None:
        tenant_id, workflow = timer.tenant_id, timer.step_id or ""
        stored = await self._latest(tenant_id, workflow)
        schedule = None if stored is None or stored.disabled else stored.definition.schedule
        if schedule is None:  # deleted, disabled or unscheduled since it was armed
            await self.timers.advance_schedule(timer, None)
            return
        plan = schedules.plan_fire(workflow, schedule, timer.due_at, self.clock.now())
        if plan.start:
            await self._start(tenant_id, workflow, schedule, plan.key)
        else:
            log.warning(
                "schedule of %s/%s: the fire due at %s is late and misfire is skip; not started",
                tenant_id,
                workflow,
                timer.due_at.isoformat(),
            )
        advanced = await self.timers.advance_schedule(timer, plan.next_fire)
        if advanced and plan.next_fire is not None:  # else a re-arm meanwhile woke us already
            self._wake(plan.next_fire)

    async def _start(self, tenant_id: str, workflow: str, schedule: Schedule, key: str) -> None:
        try:
            run = await self._start_run(
                tenant_id, workflow, dict(schedule.inputs), schedule.requester, idempotency_key=key
            )
        except EngineError as exc:
            # The definition refuses the start (disabled a moment ago, inputs no longer fit):
            # retrying would fail the same way, so this fire is logged and the next one armed.
            log.error("schedule of %s/%s could not start a run: %s", tenant_id, workflow, exc)
            return
        log.info("schedule of %s/%s started run %s (%s)", tenant_id, workflow, run.run_id, key)
