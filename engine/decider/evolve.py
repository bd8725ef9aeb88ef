"""evolve: fold one event into a run's state. The state is a pure function of the events, so
replaying a run's events (`replay`) rebuilds exactly what the store keeps as its projection."""

from __future__ import annotations

from collections.abc import Iterable

from engine import events as ev
from engine.state import RunState, StepState, StepStatus, Vote


def evolve(state: RunState | None, event: ev.Event) -> RunState:
    """The state after `event`; `state` itself is left untouched."""
    return apply(copy_state(state) if state is not None else None, event)


def fold(state: RunState | None, events: Iterable[ev.Event]) -> RunState:
    """Evolve through `events` in order (there must be at least one when `state` is None)."""
    current = copy_state(state) if state is not None else None
    for event in events:
        current = apply(current, event)
    if current is None:
        raise ValueError("a run needs at least its run_started event")
    return current


def replay(events: Iterable[ev.Event]) -> RunState:
    """The state of a run rebuilt from all its events."""
    return fold(None, events)


def copy_state(state: RunState) -> RunState:
    """A copy `apply` may change in place. Cheaper than a deep copy: `apply` only mutates the
    run, its steps, their vote lists and the compensation queue; every other value it replaces."""
    return state.model_copy(
        update={
            "steps": {
                sid: step.model_copy(update={"votes": list(step.votes)})
                for sid, step in state.steps.items()
            },
            "compensation_queue": list(state.compensation_queue),
        }
    )


def apply(state: RunState | None, event: ev.Event) -> RunState:
    """Fold `event` into `state` in place (the decider works on its own copy) and return it."""
    if isinstance(event, ev.RunStarted):
        if state is not None:
            raise ValueError("run_started can only be the first event of a run")
        return RunState(
            run_id=event.run_id,
            tenant_id=event.tenant_id,
            workflow=event.workflow,
            version=event.version,
            requester=event.requester,
            inputs=event.inputs,
            callback_url=event.callback_url,
            started_at=event.at,
            updated_at=event.at,
            steps={sid: StepState(id=sid, type=kind) for sid, kind in event.steps.items()},
            seq=1,
        )
    if state is None:
        raise ValueError(f"{event.type} cannot come before run_started")
    state.seq += 1
    state.updated_at = event.at
    _apply_run_event(state, event)
    return state


def _begin(state: RunState, step: StepState, event: ev.EventBase, status: StepStatus) -> None:
    step.status = status
    step.started_at = step.started_at or event.at
    state.current_step = step.id


def _apply_run_event(state: RunState, event: ev.Event) -> None:
    match event:
        case ev.RunFinished():
            state.status = event.status
            state.reason = event.reason
            state.finished_at = event.at
            state.current_step = None
        case ev.CancelRequested():
            state.cancel_requested = True
            state.cancelled_by = event.actor
            state.cancel_reason = event.reason
            if state.status == "running":
                for step in state.steps.values():
                    if step.status in ("waiting", "retrying"):
                        step.status = "cancelled"
                        step.finished_at = event.at
                        step.resolving_level = None
                        step.retry_at = None
        case ev.CompensationStarted():
            state.status = "compensating"
            state.compensation_cause = event.cause
            state.compensation_queue = list(event.steps)
        case ev.RunStarted():
            raise ValueError("run_started can only be the first event of a run")
        case _:
            _apply_step_event(state, state.steps[event.step_id], event)


def _apply_step_event(state: RunState, step: StepState, event: ev.Event) -> None:
    match event:
        case ev.StepSkipped():
            step.status = "skipped"
            step.finished_at = event.at
        case ev.StepStarted():
            _begin(state, step, event, "running")
            step.attempt = event.attempt
            step.retry_at = None
        case ev.ApprovalRequested():
            _begin(state, step, event, "waiting")
            step.approvers = list(event.approvers)
            step.required = event.required
            step.escalation_level = event.escalation_level
            step.resolving_level = None
        case ev.ApproversResolving():
            _begin(state, step, event, "waiting")
            step.resolving_level = event.escalation_level
        case ev.InputRequested():
            _begin(state, step, event, "waiting")
            step.approvers = [event.assignee]
            step.required = 1
        case ev.SignalAwaited():
            _begin(state, step, event, "waiting")
            step.signal = event.name
        case ev.WaitStarted():
            _begin(state, step, event, "waiting")
            step.waiting_until = event.until
        case ev.DecisionRecorded():
            step.votes.append(
                Vote(
                    actor=event.actor,
                    decision=event.decision,
                    fields=event.fields,
                    channel=event.channel,
                    at=event.at,
                    override=event.override,
                )
            )
        case ev.ReminderSent():
            step.reminders = event.number
        case ev.StepEscalated():
            step.escalation_level = event.level
            step.approvers = list(event.approvers)
            step.required = 1  # an escalation level decides like `any`
            step.reminders = 0
            step.resolving_level = None
        case ev.AttemptFailed():
            step.error = event.error
            step.retry_at = event.retry_at
            if not event.compensation and event.retry_at is not None:
                step.status = "retrying"
        case ev.StepCompleted():
            step.status = "rejected" if event.outcome == "rejected" else "completed"
            step.outcome = event.outcome
            step.output = event.output
            step.finished_at = event.at
            step.retry_at = None
            step.resolving_level = None
        case ev.StepFailed():
            step.status = "failed"
            step.error = event.error
            step.finished_at = event.at
            step.retry_at = None
            step.resolving_level = None
        case ev.CompensationAttemptStarted():
            step.status = "compensating"
            step.compensation_attempt = event.attempt
            step.retry_at = None
            state.current_step = step.id
        case ev.StepCompensated():
            step.status = "compensated"
            state.compensation_queue.remove(step.id)
        case ev.StepCompensationFailed():
            step.status = "compensation_failed"
            step.error = event.error
            state.compensation_queue.remove(step.id)
        case ev.InputSubmitted() | ev.SignalReceived() | ev.StepTimedOut():
            pass  # audit facts; the StepCompleted/StepFailed that follows carries the change
        case _:
            raise ValueError(f"unexpected event {event.type}")
