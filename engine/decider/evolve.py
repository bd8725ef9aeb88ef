"""evolve: fold one event into a run's state. The state is a pure function of the events, so
replaying a run's events (`replay`) rebuilds exactly what the store keeps as its projection."""

from __future__ import annotations

from collections.abc import Iterable

from engine import events as ev
from engine.shown import shown_key
from engine.state import Delegation, Question, RunState, StepState, StepStatus, Vote


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
    run, its steps, their vote, delegation and question lists and the compensation queue; every
    other value (dicts included) it replaces."""
    return state.model_copy(
        update={
            "steps": {
                sid: step.model_copy(
                    update={
                        "votes": list(step.votes),
                        "delegations": list(step.delegations),
                        "questions": list(step.questions),
                    }
                )
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
            summary=event.summary,
            callback_url=event.callback_url,
            slack_step=event.slack_step,
            started_at=event.at,
            updated_at=event.at,
            steps={sid: StepState(id=sid, type=kind) for sid, kind in event.steps.items()},
            seq=1,
        )
    if state is None:
        raise ValueError(f"{event.type} cannot come before run_started")
    state.seq += 1
    if isinstance(event, ev.RequestShown):
        # A record of what was shown: not a change of the run (its lists keep their order).
        step = state.steps[event.step_id]
        ref = ev.ShownRef(
            sha256=event.sha256,
            seq=state.seq,
            channel=event.channel,
            recipient=event.recipient,
            shared=event.shared,
        )
        step.shown = {**step.shown, shown_key(event.channel, event.recipient): ref}
        return state
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
                        _unschedule(step)
        case ev.CompensationStarted():
            state.status = "compensating"
            state.compensation_cause = event.cause
            state.compensation_queue = list(event.steps)
        case ev.RunStarted():
            raise ValueError("run_started can only be the first event of a run")
        case ev.CommentAdded():
            pass  # in the timeline only
        case _:
            _apply_step_event(state, state.steps[event.step_id], event)


def _schedule(step: StepState, deadlines: ev.Deadlines | None) -> None:
    if deadlines is None:
        return
    step.reminders_due = dict(deadlines.reminders_due)
    step.next_reminder_at = min(step.reminders_due.values(), default=None)
    step.times_out_at = deadlines.times_out_at
    step.escalates_at = deadlines.escalates_at


def _unschedule(step: StepState) -> None:
    """The step stopped waiting: nothing more is due."""
    if step.reminders_due or step.next_reminder_at or step.paused:
        step.reminders_due = {}
        step.next_reminder_at = None
        step.paused = False
        step.paused_at = None
    step.times_out_at = step.escalates_at = None


def _zones(step: StepState, zones: dict[str, str]) -> None:
    if zones:
        step.approver_time_zones = {**step.approver_time_zones, **zones}


def _asked(step: StepState, event: ev.EventBase) -> None:
    step.requested_at = step.requested_at or event.at


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
            _asked(step, event)
            _zones(step, event.time_zones)
            _schedule(step, event.deadlines)
        case ev.ApproversResolving():
            _begin(state, step, event, "waiting")
            step.resolving_level = event.escalation_level
        case ev.InputRequested():
            _begin(state, step, event, "waiting")
            step.approvers = [event.assignee]
            step.required = 1
            _asked(step, event)
            _zones(step, event.time_zones)
            _schedule(step, event.deadlines)
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
                    # Runs recorded before system decisions were told apart marked them as
                    # overrides: they read as the system's either way.
                    override=event.override and not _by_system(event),
                    reason=event.reason,
                )
            )
            if event.actor in step.reminders_due:
                _schedule(step, _without(step, event.actor))
        case ev.ReminderSent():
            step.reminders = event.number
            if event.to:
                step.reminded = {
                    **step.reminded,
                    **{who: step.reminded.get(who, 0) + 1 for who in event.to},
                }
            _schedule(step, event.deadlines)
        case ev.StepEscalated():
            step.escalation_level = event.level
            step.approvers = list(event.approvers)
            step.required = 1  # an escalation level decides like `any`
            step.reminders = 0
            step.reminded = {}
            step.resolving_level = None
            step.escalated_at = event.at
            step.escalation_reason = event.reason or None
            _zones(step, event.time_zones)
            _schedule(step, event.deadlines)
        case ev.StepDelegated():
            step.approvers = [event.to if p == event.from_ else p for p in step.approvers]
            step.delegations.append(
                Delegation(
                    from_=event.from_,
                    to=event.to,
                    by=event.by,
                    kind=event.kind,
                    reason=event.reason,
                    at=event.at,
                )
            )
            _zones(step, event.time_zones)
            _schedule(step, event.deadlines)
        case ev.QuestionAsked():
            step.questions.append(
                Question(
                    id=event.question_id,
                    by=event.by,
                    to=event.to,
                    text=event.text,
                    asked_at=event.at,
                    pauses=event.pauses,
                )
            )
            if event.pauses and not step.paused:
                step.paused = True
                step.paused_at = event.at
        case ev.QuestionAnswered():
            step.questions = [
                q.model_copy(
                    update={"answer": event.text, "answered_at": event.at, "answered_by": event.by}
                )
                if q.id == event.question_id
                else q
                for q in step.questions
            ]
            if event.deadlines is not None:
                step.paused = False
                step.paused_at = None
                _schedule(step, event.deadlines)
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
            _unschedule(step)
        case ev.StepFailed():
            step.status = "failed"
            step.error = event.error
            step.finished_at = event.at
            step.retry_at = None
            step.resolving_level = None
            _unschedule(step)
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


def _without(step: StepState, who: str) -> ev.Deadlines:
    due = {p: at for p, at in step.reminders_due.items() if p != who}
    return ev.Deadlines(
        reminders_due=due, times_out_at=step.times_out_at, escalates_at=step.escalates_at
    )


def _by_system(event: ev.DecisionRecorded) -> bool:
    return event.actor == "system" and event.channel == "system"
