"""Deterministic command keys and timer ids.

A command key is the idempotency key of a side effect and the handle its outcome comes back with;
a timer id names one durable timer (arming the same id twice replaces it). Both are derived from
the run, the step and a counter, never from the clock or randomness, so a decision replayed after
a crash produces the same keys and ids.

Command keys:
    {run}:{step}:{attempt}                     http / notify attempt
    {run}:{step}:comp:{attempt}                compensation attempt
    {run}:{step}:resolve:{level}               approver lookup (level 0 = first request)
    {run}:{step}:request:{level}:{principal}   approval request (kind "escalated" for level > 0)
    {run}:{step}:escalated:{level}:{principal}
    {run}:{step}:reminder:{level}.{n}:{principal}
    {run}:{step}:input:0:{assignee}            input request
    {run}:{step}:input-reminder:{level}.{n}:{assignee}
    {run}:{step}:update:{seq}                  refresh an approval's cards after event seq
    {run}:_changed:{seq}                       run status / current step changed after event seq
                                               (a segment no step id can be: a step named
                                               "changed" has attempt keys {run}:changed:{n})
    {run}:{step}:grant                         record the standing grant the step's approval gave
Timer ids:
    {run}:{step}:retry:{attempt}               the attempt the timer starts
    {run}:{step}:compensation_retry:{attempt}
    {run}:{step}:wait
    {run}:{step}:timeout:{level}
    {run}:{step}:reminder:{level}.{n}
"""

from __future__ import annotations

from engine.commands import Command, RunChanged, UpdateApproval


def attempt_key(run_id: str, step_id: str, attempt: int) -> str:
    return f"{run_id}:{step_id}:{attempt}"


def compensation_key(run_id: str, step_id: str, attempt: int) -> str:
    return f"{run_id}:{step_id}:comp:{attempt}"


def resolve_key(run_id: str, step_id: str, level: int) -> str:
    return f"{run_id}:{step_id}:resolve:{level}"


def request_key(run_id: str, step_id: str, kind: str, counter: str, principal: str) -> str:
    return f"{run_id}:{step_id}:{kind}:{counter}:{principal}"


def update_key(run_id: str, step_id: str, seq: int) -> str:
    return f"{run_id}:{step_id}:update:{seq}"


def run_changed_key(run_id: str, seq: int) -> str:
    return f"{run_id}:_changed:{seq}"


def refresh_seq(command: Command) -> int | None:
    """The event seq an update_approval or run_changed command was issued after (the views it
    refreshes show at least that); None for other commands."""
    if not isinstance(command, UpdateApproval | RunChanged):
        return None
    seq = command.key.rpartition(":")[2]
    return int(seq) if seq.isdigit() else None


def grant_key(run_id: str, step_id: str) -> str:
    return f"{run_id}:{step_id}:grant"  # an approval step closes once: one grant at most


def retry_timer(run_id: str, step_id: str, attempt: int) -> str:
    return f"{run_id}:{step_id}:retry:{attempt}"


def compensation_retry_timer(run_id: str, step_id: str, attempt: int) -> str:
    return f"{run_id}:{step_id}:compensation_retry:{attempt}"


def wait_timer(run_id: str, step_id: str) -> str:
    return f"{run_id}:{step_id}:wait"


def timeout_timer(run_id: str, step_id: str, level: int) -> str:
    return f"{run_id}:{step_id}:timeout:{level}"


def reminder_timer(run_id: str, step_id: str, level: int, number: int) -> str:
    return f"{run_id}:{step_id}:reminder:{level}.{number}"


def slack_step_key(run_id: str) -> str:
    return f"{run_id}:slack-step"  # once per run: a run ends once
