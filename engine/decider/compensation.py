"""The saga: after a failure, a rejection or a cancel, undo the completed steps that declare
`compensate`, newest first, each with its own retries. A compensation that fails for good is
recorded and the others still run; the run then ends `compensation_failed`, never silently."""

from __future__ import annotations

from typing import Literal

from engine import commands as cmd
from engine import events as ev
from engine.decider import keys, retry
from engine.decider.context import Builder
from engine.definitions.models import HttpAction
from engine.state import RunState

Cause = Literal["failed", "rejected", "cancelled"]


def _action(b: Builder, step_id: str) -> HttpAction | None:
    action: HttpAction | None = getattr(b.definition.step(step_id), "compensate", None)
    return action


def begin(b: Builder, cause: Cause) -> None:
    todo = [
        s.id
        for s in reversed(list(b.state.steps.values()))
        if s.status == "completed" and _action(b, s.id) is not None
    ]
    if not todo:
        _finish(b, cause)
        return
    b.emit(ev.CompensationStarted(at=b.now, cause=cause, steps=todo))
    _next(b)


def _next(b: Builder) -> None:
    queue = b.state.compensation_queue
    if queue:
        start_attempt(b, queue[0], 1)
    else:
        _finish(b, b.state.compensation_cause or "failed")


def start_attempt(b: Builder, step_id: str, attempt: int) -> None:
    action = _action(b, step_id)
    assert action is not None  # only steps with `compensate` are queued
    run = b.state
    b.emit(ev.CompensationAttemptStarted(at=b.now, step_id=step_id, attempt=attempt))
    b.command(
        cmd.CallHttp(
            key=keys.compensation_key(run.run_id, step_id, attempt),
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_id=step_id,
            attempt=attempt,
            compensation=True,
            action=action,
            context=b.context(),
        )
    )


def succeeded(b: Builder, step_id: str) -> None:
    b.emit(ev.StepCompensated(at=b.now, step_id=step_id))
    _next(b)


def failed(b: Builder, step_id: str, error: str, reason: str) -> None:
    action = _action(b, step_id)
    assert action is not None
    run = b.state
    attempt = b.step(step_id).compensation_attempt
    key = keys.compensation_key(run.run_id, step_id, attempt)
    retry_at = retry.next_attempt_at(action.retry, attempt, reason, key, b.now)
    b.emit(
        ev.AttemptFailed(
            at=b.now,
            step_id=step_id,
            attempt=attempt,
            error=error,
            retry_at=retry_at,
            compensation=True,
        )
    )
    if retry_at is not None:
        timer_id = keys.compensation_retry_timer(run.run_id, step_id, attempt + 1)
        b.arm("compensation_retry", timer_id, step_id, retry_at, attempt + 1)
        return
    b.emit(
        ev.StepCompensationFailed(at=b.now, step_id=step_id, error=retry.gave_up(error, attempt))
    )
    _next(b)


def _finish(b: Builder, cause: Cause) -> None:
    run = b.state
    reason = explain(run, cause)
    broken = [s.id for s in run.steps.values() if s.status == "compensation_failed"]
    if broken:
        reason += f"; compensation failed for {', '.join(broken)}"
    b.emit(
        ev.RunFinished(at=b.now, status="compensation_failed" if broken else cause, reason=reason)
    )


def explain(run: RunState, cause: Cause) -> str:
    """Why the run is being undone, in a sentence for the requester."""
    if cause == "cancelled":
        why = f": {run.cancel_reason}" if run.cancel_reason else ""
        return f"cancelled by {run.cancelled_by}{why}"
    wanted = "rejected" if cause == "rejected" else "failed"
    step = next((s for s in reversed(run.steps.values()) if s.status == wanted), None)
    if step is None:
        return cause
    if cause == "failed":
        return f"step {step.id} failed: {step.error}"
    by = ", ".join(step.output.get("decided_by", [])) or "nobody"
    note = step.output.get("reason")
    return f"step {step.id} was rejected by {by}" + (f" ({note})" if note else "")
