"""How long a human task has waited and what happens to it next, as the pages and mails say it
(the engine keeps the clock of a waiting step: `StepState.next_reminder_at`, `escalates_at`,
`times_out_at`, `paused`, `questions`, `delegations`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine import Delegation, Duration, Question, RunState, StepState, TaskSla


def span(delta: timedelta) -> str:
    """A length of time for people, to the minute: "2d3h", "45m", "under a minute"."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "under a minute"
    return str(Duration(seconds=seconds - seconds % 60))


def until(at: datetime | None, now: datetime) -> str:
    """ "in 3h" / "overdue" for a time to come."""
    if at is None:
        return ""
    return f"in {span(at - now)}" if at > now else "now (overdue)"


def delegation_note(d: Delegation) -> str:
    """ "delegated to you by X" / "for X, who is away" / "reassigned to you by an admin"."""
    if d.kind == "away":
        return f"for {d.from_}, who is away"
    if d.kind == "reassign":
        return f"reassigned to you from {d.from_} by {d.by}"
    return f"delegated to you by {d.by}"


def waiting_since(step: StepState) -> datetime | None:
    return step.requested_at or step.started_at


@dataclass(frozen=True)
class StepClock:
    """What a person reads about a waiting task's clock, one line each."""

    paused: bool
    lines: list[str]


def clock(
    since: datetime | None,
    reminder: datetime | None,
    escalates: datetime | None,
    times_out: datetime | None,
    paused: bool,
    now: datetime,
) -> StepClock:
    lines: list[str] = []
    if since:
        lines.append(f"Waiting for {span(now - since)} (since {since:%Y-%m-%d %H:%M} UTC)")
    if paused:
        lines.append("Reminders and the timeout are paused while a question is open")
    else:
        if reminder:
            lines.append(f"Next reminder {until(reminder, now)} ({reminder:%Y-%m-%d %H:%M} UTC)")
        if escalates:
            lines.append(f"Escalates {until(escalates, now)} ({escalates:%Y-%m-%d %H:%M} UTC)")
        elif times_out:
            lines.append(f"Times out {until(times_out, now)} ({times_out:%Y-%m-%d %H:%M} UTC)")
    return StepClock(paused, lines)


def step_clock(step: StepState, now: datetime) -> StepClock:
    return clock(
        waiting_since(step),
        step.next_reminder_at,
        step.escalates_at,
        step.times_out_at,
        step.paused,
        now,
    )


def task_clock(task: TaskSla, now: datetime) -> StepClock:
    return clock(
        task.waiting_since,
        task.next_reminder_at,
        task.escalates_at,
        task.times_out_at,
        task.paused,
        now,
    )


def open_question_for(run: RunState, principal: str) -> list[tuple[StepState, Question]]:
    """The open questions of `run` addressed to `principal` (the requester)."""
    return [
        (step, q)
        for step in run.steps.values()
        if step.status == "waiting"
        for q in step.questions
        if q.answer is None and q.to == principal
    ]
