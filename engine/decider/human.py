"""Steps that wait for the outside world: input forms, wait steps and signals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from engine import events as ev
from engine import forms, principal, templates
from engine.decider import deadlines, delegation, keys, steps
from engine.decider.context import Builder
from engine.definitions.models import InputStep, SignalStep, WaitStep
from engine.errors import NotAllowed, TemplateError
from engine.shown import shown_for
from engine.triggers import SubmitInput


def assignee_of(spec: str, context: dict[str, Any]) -> str:
    """An input step's assignee as one principal: a Slack user id or email:addr."""
    if spec == "requester":
        return str(context["requester"])
    value = (templates.render(spec, context) if "{" in spec else spec).strip()
    found = principal.find(value)
    if found is None or not found.is_person:
        raise ValueError(
            f"assignee {value!r} (from {spec!r}) is not {principal.expected(principal.PEOPLE)}"
        )
    return found.id


def start_input(b: Builder, step: InputStep) -> None:
    try:
        assignee = assignee_of(step.assignee, b.context())
    except (ValueError, TemplateError) as exc:
        steps.fail(b, step.id, str(exc))
        return
    run = b.state
    zones = deadlines.zones_for(b, step, 0, [assignee])
    b.emit(
        ev.InputRequested(
            at=b.now,
            step_id=step.id,
            assignee=assignee,
            time_zones=zones,
            deadlines=deadlines.or_none(deadlines.fresh(b, step, 0, [assignee], zones)),
        )
    )
    delegation.substitute_away(b, step)
    target = b.step(step.id).approvers[0]
    kind: Literal["request", "delegated"] = "delegated" if target != assignee else "request"
    b.request(step.id, target, kind, keys.request_key(run.run_id, step.id, "input", "0", target))
    deadlines.arm(b, step.id)


def check_submit(b: Builder, step: InputStep, trigger: SubmitInput) -> None:
    """Refuse input from anyone but the assignee (an override needs an admin)."""
    assignee = b.step(step.id).approvers[0]
    if trigger.override and not trigger.admin:
        raise NotAllowed("only an admin can fill in a form for someone else", code="not_admin")
    if trigger.actor != assignee and not trigger.override:
        raise NotAllowed(
            "you are not the assignee of this step",
            code="not_assignee",
            step=step.id,
            assignee=assignee,
        )


def submit(b: Builder, step: InputStep, trigger: SubmitInput) -> None:
    """Values from the assignee (checked by the caller: `check_submit`, on a waiting step)."""
    values = forms.validate_values(step.fields, trigger.values)
    b.emit(
        ev.InputSubmitted(
            at=b.now,
            step_id=step.id,
            actor=trigger.actor,
            values=values,
            channel=trigger.channel,
            override=trigger.override,
            proof=trigger.proof,
            shown=shown_for(b.step(step.id), trigger.actor, trigger.channel),
        )
    )
    steps.complete(b, step.id, "done", {"values": values, "submitted_by": trigger.actor})


def start_wait(b: Builder, step: WaitStep) -> None:
    if step.duration is not None:
        until = b.env.hours.after(b.now, step.duration, None)  # working time: default zone
    else:
        try:
            until = _parse_until(templates.render(step.until or "", b.context()))
        except (ValueError, TemplateError) as exc:
            steps.fail(b, step.id, str(exc))
            return
    b.emit(ev.WaitStarted(at=b.now, step_id=step.id, until=until))
    if until <= b.now:  # already past: go on at once
        b.emit(ev.StepCompleted(at=b.now, step_id=step.id, outcome="done"))
        return
    b.arm("wait", keys.wait_timer(b.state.run_id, step.id), step.id, until, 0)


def _parse_until(text: str) -> datetime:
    try:
        until = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"wait until {text!r}: expected an ISO 8601 date or time like 2030-01-31T09:00:00Z"
        ) from None
    return until if until.tzinfo is not None else until.replace(tzinfo=UTC)


def start_signal(b: Builder, step: SignalStep) -> None:
    b.emit(ev.SignalAwaited(at=b.now, step_id=step.id, name=step.name or step.id))
    if step.timeout is not None:
        timer_id = keys.timeout_timer(b.state.run_id, step.id, 0)
        b.arm("timeout", timer_id, step.id, b.env.hours.after(b.now, step.timeout, None), 0)


def signal(b: Builder, step_id: str, payload: dict[str, Any]) -> None:
    b.emit(ev.SignalReceived(at=b.now, step_id=step_id, payload=payload))
    steps.complete(b, step_id, "done", {"payload": payload})


def timed_out(b: Builder, step: InputStep | SignalStep) -> None:
    what = "input" if isinstance(step, InputStep) else f"signal {step.name or step.id!r}"
    b.emit(ev.StepTimedOut(at=b.now, step_id=step.id, action="fail"))
    steps.fail(b, step.id, f"no {what} within {step.timeout}")
