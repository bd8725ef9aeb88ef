"""Scheduled starts, the pure part: when a `schedule:` fires next, and what one firing does.

Fire times come from APScheduler's triggers. A cron expression is read on the schedule's wall
clock: APScheduler's CronTrigger walks wall-clock times (in UTC, where no time repeats), and we
place each on the zone's timeline ourselves, because across a daylight-saving change its own zone
handling repeats or sticks on the doubled hour. So every wall-clock time fires exactly once: a time
the autumn change repeats fires at its first occurrence, a time the spring change skips fires one
hour later (Python's reading of a time in the gap). `every:` is elapsed time (IntervalTrigger on
UTC), aligned to `start` or to the fire before.

Each scheduled workflow has one durable timer (kind "schedule") for its next fire; firing it starts
a run whose idempotency key names the fire instant, so a second claim of the same fire (after a
crash, a lease that ran out) finds that run instead of starting another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.definitions.models import Schedule

if TYPE_CHECKING:
    from engine.commands import Timer

TIMER_KIND = "schedule"
_TICK = timedelta(microseconds=1)
_MAX_STEPS = 1000  # wall-clock times to pass over while a zone change repeats them


@dataclass(frozen=True)
class ScheduleInfo:
    """What `Engine.list_schedules` shows for one scheduled workflow."""

    tenant_id: str
    workflow: str
    version: int  # the latest version, whose `schedule:` applies
    kind: Literal["cron", "every"]
    expression: str  # "0 9 * * mon-fri" or "1h"
    timezone: str
    misfire: Literal["run_once", "skip"]
    disabled: bool
    next_fire: datetime | None  # UTC; None when disabled (or a schedule that has ended)

    @property
    def description(self) -> str:
        if self.kind == "cron":
            return f"cron {self.expression} ({self.timezone})"
        return f"every {self.expression}"


@dataclass(frozen=True)
class FirePlan:
    """What one firing of a schedule timer does."""

    start: bool  # start a run (False: a late fire under `misfire: skip`)
    late: bool
    key: str  # the run's idempotency key
    next_fire: datetime | None


# ------------------------------------------------------------------ checks


def zone(name: str) -> ZoneInfo:
    """The IANA zone; raises ValueError saying what is expected."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name like 'Europe/Berlin' or 'UTC'"
        ) from None


def cron_trigger(expression: str) -> CronTrigger:
    """APScheduler's trigger for a five-field cron expression, on wall-clock time (see above);
    raises ValueError saying what is wrong."""
    if len(expression.split()) != 5:
        raise ValueError(
            f"{expression!r} is not a cron expression: expected five fields "
            "(minute hour day month weekday), like '0 9 * * mon-fri'"
        )
    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a valid cron expression: {exc}") from None


def problems(schedule: Schedule) -> list[tuple[str, str]]:
    """(field under `schedule`, message) for every problem of the schedule itself."""
    found: list[tuple[str, str]] = []
    if (schedule.cron is None) == (schedule.every is None):
        found.append(("", "a schedule needs exactly one of cron or every"))
    if schedule.cron is not None:
        try:
            trigger = cron_trigger(schedule.cron)
        except ValueError as exc:
            found.append(("cron", str(exc)))
        else:
            if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:
                found.append(("cron", f"{schedule.cron!r} never fires (no such date)"))
        if schedule.start is not None:
            found.append(("start", "start applies to every: only; a cron says its own times"))
    if schedule.every is not None:
        if schedule.every.working:
            found.append(("every", "a schedule runs on wall-clock time, not working hours"))
        elif schedule.every.seconds < 1:
            found.append(("every", "the interval must be at least 1s"))
    try:
        zone(schedule.timezone)
    except ValueError as exc:
        found.append(("timezone", str(exc)))
    if schedule.grace.working:
        found.append(("grace", "grace is wall-clock time, not working hours"))
    return found


# ------------------------------------------------------------------ fire times


def next_fire(schedule: Schedule, after: datetime, anchor: datetime) -> datetime | None:
    """The first fire strictly after `after` (UTC). `anchor` aligns an `every:` without `start`
    (the instant the schedule was armed, or the fire before)."""
    if schedule.cron is not None:
        return _next_cron(cron_trigger(schedule.cron), zone(schedule.timezone), after)
    assert schedule.every is not None
    start = schedule.start or anchor
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone(schedule.timezone))
    trigger = IntervalTrigger(seconds=schedule.every.seconds, start_date=start, timezone=UTC)
    found: datetime | None = trigger.get_next_fire_time(None, after + _TICK)
    return None if found is None else found.astimezone(UTC)


def _next_cron(trigger: CronTrigger, tz: ZoneInfo, after: datetime) -> datetime | None:
    # Wall-clock times are naive datetimes dressed as UTC for the trigger.
    wall = after.astimezone(tz).replace(tzinfo=UTC, fold=0)
    for _ in range(_MAX_STEPS):
        found: datetime | None = trigger.get_next_fire_time(None, wall + _TICK)
        if found is None:
            return None
        instant = found.replace(tzinfo=tz, fold=0).astimezone(UTC)  # first occurrence
        if instant > after:
            return instant
        wall = found  # a repeated wall-clock time already fired at its first occurrence
    raise ValueError("no fire time found: the cron expression never matches after a zone change")


def fire_key(workflow: str, instant: datetime) -> str:
    """The idempotency key of the run a fire starts (unique per tenant)."""
    return f"schedule:{workflow}:{instant.astimezone(UTC).isoformat()}"


def timer_id(tenant_id: str, workflow: str) -> str:
    """The one timer row that holds a scheduled workflow's next fire."""
    return f"schedule:{tenant_id}:{workflow}"


def timer_run_id(workflow: str) -> str:
    """What a schedule timer carries as its run id (it belongs to no run yet)."""
    return f"schedule:{workflow}"


def timer(tenant_id: str, workflow: str, due_at: datetime) -> Timer:
    """The schedule timer of a workflow; the workflow's name rides in `step_id`."""
    # Imported here: engine.commands -> definitions -> checks -> schedules would be a cycle.
    from engine.commands import Timer

    return Timer(
        id=timer_id(tenant_id, workflow),
        tenant_id=tenant_id,
        run_id=timer_run_id(workflow),
        due_at=due_at,
        kind=TIMER_KIND,
        step_id=workflow,
    )


def plan_fire(workflow: str, schedule: Schedule, due: datetime, now: datetime) -> FirePlan:
    """Fire the timer due at `due`, claimed at `now`: start at most one run (keyed by `due`),
    then arm the first fire after now, whatever was missed in between."""
    late = now - due > schedule.grace.delta
    return FirePlan(
        start=not late or schedule.misfire == "run_once",
        late=late,
        key=fire_key(workflow, due),
        next_fire=next_fire(schedule, max(now, due), anchor=due),
    )


def info(
    tenant_id: str,
    workflow: str,
    version: int,
    schedule: Schedule,
    disabled: bool,
    next_at: datetime | None,
) -> ScheduleInfo:
    kind: Literal["cron", "every"] = "cron" if schedule.cron is not None else "every"
    return ScheduleInfo(
        tenant_id=tenant_id,
        workflow=workflow,
        version=version,
        kind=kind,
        expression=schedule.cron if schedule.cron is not None else str(schedule.every),
        timezone=schedule.timezone,
        misfire=schedule.misfire,
        disabled=disabled,
        next_fire=None if disabled else next_at,
    )
