"""Scheduled starts at run time: keep each scheduled workflow's one timer armed, and fire it.

Arming follows the definitions: applying a version whose schedule changed (or that turns a
schedule on) arms its next fire from now; disabling removes the timer, enabling arms it again.
Firing is what the timer sweep hands over for timers of kind "schedule": start the run
(idempotent on the fire instant, see `engine.schedules`), then move the timer to the next fire
with a compare-and-set, so a re-arm that happened meanwhile wins and a fire is never lost: a
process that dies between the two leaves the claimed timer to fire again after its lease, and the
second firing finds the run the first one started.

Reconciling covers what arming cannot: the definition and its timer are written in two
transactions, so a crash between them (or a lost timer row) leaves a schedule without its timer.
At start-up and every few minutes each process compares the scheduled definitions of every tenant
with the armed timers: a missing timer is armed where it would have been had the apply armed it
(the first fire after the version was stored; a fire missed meanwhile then follows the misfire
rule), and a timer whose workflow is disabled or no longer scheduled is removed. Every write is
conditional (insert if absent, delete if unchanged), so processes reconciling at once agree, and
an existing timer is never moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from engine import schedules
from engine.commands import Timer
from engine.definitions.models import Schedule
from engine.errors import EngineError, NotFound
from engine.ports import Clock, DefinitionStore, ScheduledDefinition, StoredDefinition, TimerStore
from engine.schedules import ScheduleInfo
from engine.state import RunState

log = logging.getLogger(__name__)

RECONCILE_EVERY = 300.0  # seconds between reconcile passes while the engine runs


@dataclass(frozen=True)
class Reconciled:
    """What one reconcile pass changed: (tenant, workflow) pairs."""

    armed: list[tuple[str, str]]
    removed: list[tuple[str, str]]


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
        self._reconciler: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.reconciled = asyncio.Event()  # set after each periodic pass (tests await it)

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

    async def sync(
        self, tenant_id: str, workflow: str, *, keep: bool, stored_anchor: bool = False
    ) -> datetime | None:
        """Make the workflow's timer match its latest version: none when it has no schedule or
        is disabled, else the next fire from now. With `keep`, an armed timer is left as it is
        (the schedule did not change). With `stored_anchor`, an `every:` counts from when the
        version was stored (as `reconcile` does), else from now. Returns the next fire."""
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
        anchor = stored.created_at if stored_anchor and stored is not None else now
        due = schedules.next_fire(schedule, now, anchor=anchor)
        await self.timers.arm_schedule(tenant_id, workflow, due)
        if due is not None:
            self._wake(due)
        return due

    async def applied(
        self, tenant_id: str, workflow: str, before: Schedule | None, created: bool
    ) -> None:
        """After an apply: re-arm when the schedule changed, keep the timer when it did not."""
        after = await self.before_apply(tenant_id, workflow)
        keep = not created or before == after
        await self.sync(tenant_id, workflow, keep=keep, stored_anchor=True)

    async def list_all(self, tenant_id: str) -> list[ScheduleInfo]:
        """The tenant's scheduled workflows with their next fire, soonest first. A schedule
        found unarmed (its apply was cut short by a crash) is armed on the way, as `reconcile`
        arms it."""
        armed = await self.timers.schedules(tenant_id)
        found: list[ScheduleInfo] = []
        for stored in await self.definitions.latest(tenant_id):
            schedule = stored.definition.schedule
            if schedule is None:
                continue
            due = armed.get(stored.name)
            if due is None and not stored.disabled:
                missing = ScheduledDefinition(
                    tenant_id, stored.name, stored.version, schedule, stored.created_at, False
                )
                due = await self._arm_missing(missing)
                if due is None:  # armed meanwhile by someone else
                    due = (await self.timers.schedules(tenant_id)).get(stored.name)
            found.append(
                schedules.info(
                    tenant_id, stored.name, stored.version, schedule, stored.disabled, due
                )
            )
        return sorted(found, key=lambda i: (i.next_fire is None, i.next_fire or 0, i.workflow))

    # ------------------------------------------------------------ reconciling

    async def reconcile(self) -> Reconciled:
        """One pass over every tenant: arm the missing timers of enabled scheduled workflows,
        remove the timers of workflows disabled or no longer scheduled. Armed timers are not
        touched otherwise. A workflow that cannot be reconciled is logged and skipped."""
        # Timers first: a timer is armed after its definition is stored, so any timer read here
        # is seen with the definition it was armed for, never taken for a stray.
        armed = await self.timers.all_schedules()
        wanted = {
            (found.tenant_id, found.name): found
            for found in await self.definitions.scheduled()
            if not found.disabled
        }
        done = Reconciled(armed=[], removed=[])
        for key, found in wanted.items():
            if key in armed:
                continue
            try:
                if await self._arm_missing(found) is not None:
                    done.armed.append(key)
            except Exception:
                log.exception("schedule of %s/%s: could not arm its missing timer", *key)
        for key, due in armed.items():
            if key in wanted:
                continue
            try:
                if await self._remove_stray(key[0], key[1], due):
                    done.removed.append(key)
            except Exception:
                log.exception("schedule of %s/%s: could not remove its stray timer", *key)
        return done

    async def _arm_missing(self, found: ScheduledDefinition) -> datetime | None:
        """Arm a missing timer where the apply would have armed it: the first fire after the
        version was stored. If that has passed, the sweep fires it late, so the misfire rule
        decides (run_once: one run for the gap; skip: none) and the next fire is armed from
        now. Returns the fire armed, None if a timer was there after all."""
        first = schedules.next_fire(found.schedule, found.created_at, anchor=found.created_at)
        if first is None:
            return None
        if not await self.timers.arm_schedule_if_missing(found.tenant_id, found.name, first):
            return None
        log.warning(
            "schedule of %s/%s (version %d) had no timer; armed for %s",
            found.tenant_id,
            found.name,
            found.version,
            first.isoformat(),
        )
        self._wake(first)
        return first

    async def _remove_stray(self, tenant_id: str, workflow: str, due: datetime) -> bool:
        # Looked at again right before: the workflow may have been enabled or rescheduled since
        # the pass read the definitions; and the delete only takes the timer as it was read.
        stored = await self._latest(tenant_id, workflow)
        if stored is not None and not stored.disabled and stored.definition.schedule is not None:
            return False
        removed = await self.timers.advance_schedule(
            schedules.timer(tenant_id, workflow, due), None
        )
        if removed:
            log.info(
                "schedule of %s/%s: removed the timer of a stopped schedule", tenant_id, workflow
            )
        return removed

    async def start(self, every: float = RECONCILE_EVERY) -> None:
        """Reconcile once now, then every `every` seconds until `stop()`."""
        if self._reconciler is not None:
            return
        await self._reconcile_logged()
        self._stopping.clear()
        self._reconciler = asyncio.create_task(
            self._reconcile_every(every), name="schedule-reconcile"
        )

    async def stop(self) -> None:
        """Stop the periodic pass; one in flight finishes first (its writes are few and each is
        conditional, so stopping half-way would be safe too)."""
        task, self._reconciler = self._reconciler, None
        if task is None:
            return
        self._stopping.set()
        await task

    async def _reconcile_every(self, every: float) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=every)
                return
            await self._reconcile_logged()
            self.reconciled.set()

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile()
        except Exception:
            log.exception("reconciling the schedule timers failed; the next pass tries again")

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
