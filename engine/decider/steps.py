"""Advancing a run through its steps in definition order, and what happens when a step ends."""

from __future__ import annotations

from typing import Any, Literal

from engine import events as ev
from engine import templates
from engine.decider import compensation
from engine.decider.context import Builder
from engine.errors import TemplateError
from engine.state import StepState

# Steps people are asked on: whichever channel closes one, every card, email page and App Home
# that shows it is refreshed through the one command `Builder.update_approval` emits.
SHOWN = ("approval", "input")


def advance(b: Builder, after: str | None) -> None:
    """Start the steps after `after` (all of them when None) until one has to wait; finish the
    run when none is left."""
    steps = b.definition.steps
    start = 0 if after is None else [s.id for s in steps].index(after) + 1
    for step in steps[start:]:
        if step.when is not None:
            try:
                go = templates.evaluate(step.when, b.context())
            except TemplateError as exc:
                fail(b, step.id, exc.message)
                return
            if not go:
                reason = f"condition {step.when!r} is false"
                b.emit(ev.StepSkipped(at=b.now, step_id=step.id, reason=reason))
                continue
        b.start_step(step)
        if b.step(step.id).status != "completed":
            return  # waiting for a person, a timer or an outcome, or the step failed
    b.emit(ev.RunFinished(at=b.now, status="completed"))


def complete(
    b: Builder,
    step_id: str,
    outcome: Literal["approved", "rejected", "done"],
    output: dict[str, Any],
) -> None:
    """The step is over: go on with the next one, or undo the run after a rejection (or a
    cancel that waited for this step's in-flight attempt)."""
    step = b.step(step_id)
    b.disarm_step(step)
    b.emit(ev.StepCompleted(at=b.now, step_id=step_id, outcome=outcome, output=output))
    if step.type in SHOWN:
        b.update_approval(step_id)
    if b.state.cancel_requested:
        compensation.begin(b, "cancelled")
    elif outcome == "rejected":
        compensation.begin(b, "rejected")
    else:
        advance(b, step_id)


def fail(b: Builder, step_id: str, error: str) -> None:
    """The step failed for good: undo what the run did, then end it failed."""
    step = b.step(step_id)
    asked = _asked(step)
    b.disarm_step(step)
    b.emit(ev.StepFailed(at=b.now, step_id=step_id, error=error))
    if asked:
        b.update_approval(step_id)
    compensation.begin(b, "cancelled" if b.state.cancel_requested else "failed")


def cancel(b: Builder, actor: str, reason: str, channel: ev.Channel) -> None:
    """Stop the run: waiting steps are cancelled at once; an attempt in flight is awaited (its
    side effect may have happened and then needs compensating) before compensation starts."""
    run = b.state
    waiting = [s for s in run.steps.values() if s.status in ("waiting", "retrying")]
    for step in waiting:
        b.disarm_step(step)
    b.emit(ev.CancelRequested(at=b.now, actor=actor, reason=reason, channel=channel))
    for step in waiting:
        if _asked(step):
            b.update_approval(step.id)
    if run.status == "compensating":
        return  # already undoing the run; the cancel is recorded
    if any(s.status == "running" for s in run.steps.values()):
        return  # the outcome of the in-flight attempt continues the cancel
    compensation.begin(b, "cancelled")


def _asked(step: StepState) -> bool:
    """Someone was sent the step's card (an approval still looking up its approvers was not)."""
    return step.type in SHOWN and bool(step.approvers)
