"""How long a human task has waited and what happens to it next, as the pages and mails say it
(the engine keeps the clock of a waiting step: `StepState.next_reminder_at`, `escalates_at`,
`times_out_at`, `paused`, `questions`, `delegations`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.durations import Duration
from engine.state import Delegation, Question, RunState, StepState


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
    """What a person reads about a waiting step's clock."""

    waited: str
    waiting_since: datetime | None
    next_reminder_at: datetime | None
    escalates_at: datetime | None
    times_out_at: datetime | None
    paused: bool
    escalation_level: int
    lines: list[str]


def step_clock(step: StepState, now: datetime) -> StepClock:
    since = waiting_since(step)
    reminder, escalates, times_out = step.next_reminder_at, step.escalates_at, step.times_out_at
    paused = step.paused
    lines: list[str] = []
    waited = span(now - since) if since else ""
    if since:
        lines.append(f"Waiting for {waited} (since {since:%Y-%m-%d %H:%M} UTC)")
    if paused:
        lines.append("Reminders and the timeout are paused while a question is open")
    if reminder and not paused:
        lines.append(f"Next reminder {until(reminder, now)} ({reminder:%Y-%m-%d %H:%M} UTC)")
    if escalates and not paused:
        lines.append(f"Escalates {until(escalates, now)} ({escalates:%Y-%m-%d %H:%M} UTC)")
    elif times_out and not paused:
        lines.append(f"Times out {until(times_out, now)} ({times_out:%Y-%m-%d %H:%M} UTC)")
    return StepClock(
        waited=waited,
        waiting_since=since,
        next_reminder_at=reminder,
        escalates_at=escalates,
        times_out_at=times_out,
        paused=paused,
        escalation_level=step.escalation_level,
        lines=lines,
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
