"""When a waiting human step reminds, escalates and times out.

Due times are computed here (working hours in each person's zone, see `engine.working_time`),
carried by the scheduling events as `events.Deadlines`, and armed as timers. A reminder is per
person: one that would fall outside their working hours moves to their next working start. The
step has one reminder timer at a time, due at the earliest person's reminder (id
`reminder:{level}.{round}`), and one timeout timer per escalation level.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine import events as ev
from engine.decider import keys
from engine.decider.context import Builder
from engine.definitions.models import ApprovalStep, InputStep
from engine.durations import Duration
from engine.state import StepState

HumanStep = ApprovalStep | InputStep
# A timer whose due time differs from the state's by more than this is a stale one.
_SLACK = timedelta(seconds=1)


def escalates(step: HumanStep, level: int) -> bool:
    """Whether the timeout of `level` moves the step on to another escalation level."""
    return (
        isinstance(step, ApprovalStep)
        and step.on_timeout == "escalate"
        and level < len(step.escalate_to)
    )


def needs_zones(step: HumanStep, level: int) -> bool:
    """Whether anything about this level depends on people's time zones."""
    timeout = step.level_timeout(level)
    reminds = step.remind_every is not None and step.max_reminders > 0
    return reminds or (timeout is not None and timeout.working)


def zones_for(b: Builder, step: HumanStep, level: int, principals: list[str]) -> dict[str, str]:
    """The zones of `principals` the step does not know yet (only when it needs them)."""
    if not needs_zones(step, level):
        return {}
    known = b.step(step.id).approver_time_zones
    return {p: b.zone(p) for p in principals if p not in known}


def reminder_targets(
    step: HumanStep, state: StepState, level: int | None = None, approvers: list[str] | None = None
) -> list[str]:
    """Who a reminder goes to: the level's channel, or everyone asked who has not acted."""
    channel = step.level_channel(state.escalation_level if level is None else level)
    if channel is not None:
        return [channel]
    voted = {v.actor for v in state.votes}
    return [p for p in (state.approvers if approvers is None else approvers) if p not in voted]


def zone_of(b: Builder, state: StepState, zones: dict[str, str], principal: str) -> str:
    return zones.get(principal) or state.approver_time_zones.get(principal) or b.default_zone


def first_reminder(b: Builder, step: HumanStep, zone: str, at: datetime) -> datetime | None:
    if step.remind_every is None or step.max_reminders <= 0:
        return None
    return b.env.hours.reminder_after(at, step.remind_every, zone)


def _timeout_zone(
    b: Builder,
    step: HumanStep,
    state: StepState,
    level: int,
    approvers: list[str],
    zones: dict[str, str],
) -> str:
    """Working-hours timeouts count in the first approver's zone (the default for channels)."""
    if step.level_channel(level) is not None or not approvers:
        return b.default_zone
    return zone_of(b, state, zones, approvers[0])


def fresh(
    b: Builder, step: HumanStep, level: int, approvers: list[str], zones: dict[str, str]
) -> ev.Deadlines:
    """The deadlines of `approvers` asked at `level` just now. A reminder that would come no
    earlier than the timeout is left out (the timeout speaks for itself)."""
    state = b.step(step.id)
    timeout = step.level_timeout(level)
    end = None
    if timeout is not None:
        zone = _timeout_zone(b, step, state, level, approvers, zones)
        end = b.env.hours.after(b.now, timeout, zone)
    due: dict[str, datetime] = {}
    for target in reminder_targets(step, state, level, approvers):
        when = first_reminder(b, step, zone_of(b, state, zones, target), b.now)
        if when is not None and (end is None or when < end):
            due[target] = when
    if escalates(step, level):
        return ev.Deadlines(reminders_due=due, escalates_at=end)
    return ev.Deadlines(reminders_due=due, times_out_at=end)


def or_none(deadlines: ev.Deadlines) -> ev.Deadlines | None:
    """None for deadlines with nothing due: a first request without reminders or timeout
    carries nothing (most approvals; the events stay small)."""
    if deadlines.reminders_due or deadlines.times_out_at or deadlines.escalates_at:
        return deadlines
    return None


def current(state: StepState, reminders_due: dict[str, datetime]) -> ev.Deadlines:
    """The step's deadlines with other reminder due times."""
    return ev.Deadlines(
        reminders_due=reminders_due,
        times_out_at=state.times_out_at,
        escalates_at=state.escalates_at,
    )


def deadline(state: StepState) -> datetime | None:
    return state.escalates_at or state.times_out_at


def arm(b: Builder, step_id: str, *, timeout: bool = True) -> None:
    """(Re)arm the step's next reminder timer, and its timeout unless `timeout` is False, from
    its state (nothing while a question pauses it). Same ids replace the armed timers; a due
    time already past is armed for now (`is_due` accepts a timer that fires late)."""
    state = b.step(step_id)
    if state.paused or state.status != "waiting":
        return
    run, level = b.state.run_id, state.escalation_level
    due = deadline(state)
    if due is not None and timeout:
        timeout_id = keys.timeout_timer(run, step_id, level)
        b.arm("timeout", timeout_id, step_id, max(due, b.now), level)
    reminder_id = keys.reminder_timer(run, step_id, level, state.reminders + 1)
    if state.next_reminder_at is not None:
        when = max(state.next_reminder_at, b.now)
        b.arm("reminder", reminder_id, step_id, when, state.reminders + 1)
    else:
        b.disarm(reminder_id)


def pause(b: Builder, step_id: str) -> None:
    state = b.step(step_id)
    run, level = b.state.run_id, state.escalation_level
    b.disarm(
        keys.timeout_timer(run, step_id, level),
        keys.reminder_timer(run, step_id, level, state.reminders + 1),
    )


def resumed(b: Builder, step: HumanStep) -> ev.Deadlines:
    """The deadlines after a pause: each due time keeps the time that was left when the pause
    began (working time for working durations), counted from now."""
    state = b.step(step.id)
    hours, since = b.env.hours, state.paused_at or b.now
    due: dict[str, datetime] = {}
    every = step.remind_every or Duration(seconds=1)
    for who, when in state.reminders_due.items():
        zone = zone_of(b, state, {}, who)
        left = hours.left(since, when, every, zone)
        due[who] = hours.next_start(hours.resume(b.now, left, every, zone), zone)
    times_out_at, escalates_at = state.times_out_at, state.escalates_at
    timeout = step.level_timeout(state.escalation_level)
    end = deadline(state)
    if end is not None and timeout is not None:
        level = state.escalation_level
        zone = _timeout_zone(b, step, state, level, state.approvers, {})
        moved = hours.resume(b.now, hours.left(since, end, timeout, zone), timeout, zone)
        times_out_at = moved if times_out_at is not None else None
        escalates_at = moved if escalates_at is not None else None
    return ev.Deadlines(reminders_due=due, times_out_at=times_out_at, escalates_at=escalates_at)


def is_due(state: StepState, kind: str, due_at: datetime) -> bool:
    """Whether a fired timer is not early for what the state expects: a pause or a delegation
    re-arms the same timer id later, and a copy claimed before must not act at its old time.
    (States from before due times were recorded expect any.)"""
    expected = state.next_reminder_at if kind == "reminder" else deadline(state)
    if expected is None:
        return kind != "reminder" or not state.reminders_due
    return due_at >= expected - _SLACK
