"""decide: what a trigger causes for a run. The only place that refuses a person's request: an
`EngineError` with a stable code and the facts to word it (`refusal` asks without deciding, for a
channel about to show a form). Outcomes and timers that no longer match the run are ignored, so
duplicate deliveries are harmless."""

from __future__ import annotations

from datetime import datetime

# As a module: engine.display reads the decider's template context, so it is imported later.
from engine import display, forms
from engine import events as ev
from engine import triggers as tr
from engine.decider import (
    approval,
    automated,
    compensation,
    deadlines,
    delegation,
    human,
    keys,
    questions,
    starts,
    steps,
)
from engine.decider.context import Builder, start_context
from engine.decider.decision import Decision
from engine.decider.env import DEFAULT_ENV, DecideEnv
from engine.definitions.models import ApprovalStep, InputStep, SignalStep, WorkflowDefinition
from engine.errors import InvalidInput, NotAllowed, NotFound, RunFinished, StepNotPending
from engine.shown import is_request, shown_key
from engine.state import RunState, StepState


def decide(
    definition: WorkflowDefinition,
    state: RunState | None,
    trigger: tr.Trigger,
    now: datetime,
    env: DecideEnv = DEFAULT_ENV,
) -> Decision:
    """The events, commands and timers `trigger` causes for the run in `state` (None for a run
    that does not exist yet), with `definition` the version the run started on and `env` what
    the runtime knows of working hours, time zones and who is away. Raises an `EngineError` with
    a message for the user when a person's request is refused (and `MissingTimeZones` when
    `env.strict_zones` asks for zones it lacks)."""
    if isinstance(trigger, tr.StartRun):
        if state is not None:
            return Decision()  # the run exists: starting it again changes nothing
        b = Builder(definition, None, now, env, starts.start)
        context = start_context(
            trigger.run_id, definition.name, trigger.version, trigger.requester, trigger.inputs
        )
        b.emit(
            ev.RunStarted(
                at=now,
                run_id=trigger.run_id,
                tenant_id=trigger.tenant_id,
                workflow=definition.name,
                version=trigger.version,
                requester=trigger.requester,
                inputs=trigger.inputs,
                callback_url=trigger.callback_url,
                slack_step=trigger.slack_step,
                steps={s.id: s.type for s in definition.steps},
                summary=display.run_summary(definition, trigger.inputs, context),
            )
        )
        steps.advance(b, None)
        return b.finish()
    if state is None:
        raise NotFound("no such run")
    b = Builder(definition, state, now, env, starts.start)
    match trigger:
        case tr.Decide():
            _decide(b, trigger)
        case tr.Comment():
            questions.comment(b, trigger)
        case tr.Delegate():
            delegation.check_reassign(trigger)
            step = _human(b, trigger.step_id, "a delegation")
            delegation.delegate(b, step, trigger)
        case tr.Ask():
            questions.ask(b, _human(b, trigger.step_id, "a question"), trigger)
        case tr.Answer():
            questions.answer(b, _human(b, trigger.step_id, "an answer", waiting=False), trigger)
        case tr.SubmitInput():
            _submit(b, trigger)
        case tr.Signal():
            _signal(b, trigger)
        case tr.Cancel():
            _cancel(b, trigger)
        case _ if b.state.status in ev.FINAL_STATUSES:
            pass  # a late outcome or timer of a finished run, or a card redrawn at the end
        case tr.RecordShown():
            _shown(b, trigger)
        case tr.ApproversResolved():
            _resolved(b, trigger)
        case tr.CommandSucceeded() | tr.CommandFailed():
            _outcome(b, trigger)
        case tr.TimerFired():
            _timer(b, trigger)
    return b.finish()


# The requests of people a channel may ask about before it shows their form.
Askable = tr.Decide | tr.SubmitInput | tr.Delegate | tr.Ask | tr.Answer | tr.Cancel


def refusal(
    definition: WorkflowDefinition,
    state: RunState | None,
    trigger: Askable,
    now: datetime,
    env: DecideEnv = DEFAULT_ENV,
) -> None:
    """Raise the refusal a person's request would meet, without deciding it (what they would
    type into the form is not checked: a channel asks this before it shows the form)."""
    if state is None:
        raise NotFound("no such run")
    b = Builder(definition, state, now, env, starts.start)
    match trigger:
        case tr.Decide():
            _decide(b, trigger, record=False)
        case tr.SubmitInput():
            _submit(b, trigger, record=False)
        case tr.Delegate():
            delegation.check_reassign(trigger)
            delegation.check(b, _human(b, trigger.step_id, "a delegation"), trigger)
        case tr.Ask():
            questions.check_ask(b, _human(b, trigger.step_id, "a question"), trigger.actor)
        case tr.Answer():
            step = _human(b, trigger.step_id, "an answer", waiting=False)
            questions.check_answer(b, step, trigger.question_id, trigger.actor)
        case tr.Cancel():
            _cancel(b, trigger, record=False)


def _describe(step: StepState) -> str:
    if step.status == "completed" and step.outcome != "done":
        return str(step.outcome)
    return {"pending": "not reached yet", "retrying": "running"}.get(step.status, step.status)


def _step(b: Builder, step_id: str) -> StepState:
    found = b.state.steps.get(step_id)
    if found is None:
        raise NotFound(f"this workflow has no step {step_id!r}")
    return found


def _check_waiting(b: Builder, step: StepState, what: str) -> None:
    if step.status == "waiting":
        return
    if b.state.status in ev.FINAL_STATUSES and step.status == "pending":
        raise RunFinished(
            f"this run has already finished ({b.state.status})", status=b.state.status
        )
    last = step.votes[-1] if step.votes else None
    raise StepNotPending(
        f"step {step.id} is not waiting for {what} (it is {_describe(step)})",
        code="closed" if step.status == "completed" else "not_waiting",
        step=step.id,
        status=_describe(step),
        decided_by=last.actor if last else step.output.get("submitted_by"),
        at=step.finished_at,
    )


def _human(
    b: Builder, step_id: str, what: str, *, waiting: bool = True
) -> ApprovalStep | InputStep:
    """The approval or input step `step_id`, checked to be waiting (when `waiting`)."""
    state = _step(b, step_id)
    step = b.definition.step(step_id)
    if not isinstance(step, ApprovalStep | InputStep):
        raise StepNotPending(f"step {step_id} is not an approval or input step")
    if waiting:
        _check_waiting(b, state, what)
        if state.resolving_level is not None and not state.approvers:
            raise StepNotPending(f"step {step_id} is still looking up its approvers")
    return step


def _decide(b: Builder, trigger: tr.Decide, *, record: bool = True) -> None:
    state = _step(b, trigger.step_id)
    step = b.definition.step(trigger.step_id)
    if not isinstance(step, ApprovalStep):
        raise StepNotPending(f"step {step.id} is not an approval step", step=step.id)
    if trigger.proxy is not None and trigger.proxy == b.state.requester:
        approval.check_proxy(b, step, trigger.proxy)
    if not trigger.override and any(v.actor == trigger.actor for v in state.votes):
        approval.check_vote(b, step, trigger)  # a second vote, on a closed step too
    _check_waiting(b, state, "a decision")
    if state.resolving_level is not None and not state.approvers and not trigger.override:
        raise StepNotPending(
            f"step {step.id} is not waiting for a decision yet: its approvers are being looked up",
            step=step.id,
        )
    approval.check_vote(b, step, trigger)
    if record:
        approval.decide(b, step, trigger)


def _submit(b: Builder, trigger: tr.SubmitInput, *, record: bool = True) -> None:
    state = _step(b, trigger.step_id)
    step = b.definition.step(trigger.step_id)
    if not isinstance(step, InputStep):
        raise StepNotPending(f"step {step.id} is not an input step", step=step.id)
    if record and state.outcome == "done" and state.output.get("submitted_by") == trigger.actor:
        try:
            if forms.validate_values(step.fields, trigger.values) == state.output.get("values"):
                return  # the same values submitted again
        except InvalidInput:
            pass
    _check_waiting(b, state, "input")
    human.check_submit(b, step, trigger)
    if record:
        human.submit(b, step, trigger)


def _signal(b: Builder, trigger: tr.Signal) -> None:
    run = b.state
    named = [s for s in run.steps.values() if s.signal == trigger.name]
    waiting = [s for s in named if s.status == "waiting"]
    if waiting:
        human.signal(b, waiting[0].id, trigger.payload)
        return
    if any(s.outcome == "done" and s.output.get("payload") == trigger.payload for s in named):
        return  # the same signal delivered again
    if run.status in ev.FINAL_STATUSES:
        raise RunFinished(f"this run has already finished ({run.status})")
    raise StepNotPending(f"no step of this run is waiting for the signal {trigger.name!r}")


def _cancel(b: Builder, trigger: tr.Cancel, *, record: bool = True) -> None:
    run = b.state
    if not trigger.admin and trigger.actor != run.requester:
        raise NotAllowed(
            f"only the requester ({run.requester}) or an admin can cancel this run",
            code="not_admin",
            requester=run.requester,
        )
    if run.status in ev.FINAL_STATUSES:
        raise RunFinished(f"this run has already finished ({run.status})", status=run.status)
    if record and not run.cancel_requested:
        steps.cancel(b, trigger.actor, trigger.reason, trigger.channel)


def _shown(b: Builder, trigger: tr.RecordShown) -> None:
    """Record each rendering of a waiting human step whose content changed for its recipient on
    its channel; the same content shown again (a redraw) records nothing."""
    for item in trigger.items:
        step = b.state.steps.get(item.step_id)
        if step is None or not is_request(step):
            continue
        last = step.shown.get(shown_key(item.channel, item.recipient))
        if last is not None and last.sha256 == item.sha256:
            continue
        b.emit(ev.RequestShown(at=b.now, **item.model_dump()))


def _resolved(b: Builder, trigger: tr.ApproversResolved) -> None:
    state = b.state.steps.get(trigger.step_id)
    if state is None or state.status != "waiting" or state.resolving_level is None:
        return
    if trigger.command_key != keys.resolve_key(b.state.run_id, state.id, state.resolving_level):
        return
    approval.resolved(b, state.id, trigger.approvers, trigger.error)


def _in_flight(run: RunState) -> dict[str, tuple[str, str]]:
    """Command key -> (what, step id) of every command whose outcome the run waits for."""
    found: dict[str, tuple[str, str]] = {}
    for s in run.steps.values():
        if s.status == "running":
            found[keys.attempt_key(run.run_id, s.id, s.attempt)] = ("attempt", s.id)
        elif s.status == "compensating" and s.retry_at is None:
            key = keys.compensation_key(run.run_id, s.id, s.compensation_attempt)
            found[key] = ("compensation", s.id)
        elif s.status == "waiting" and s.resolving_level is not None:
            found[keys.resolve_key(run.run_id, s.id, s.resolving_level)] = ("resolve", s.id)
    return found


def _outcome(b: Builder, trigger: tr.CommandSucceeded | tr.CommandFailed) -> None:
    what, step_id = _in_flight(b.state).get(trigger.command_key, ("", ""))
    if trigger.note and what:  # what the dispatcher changed so the outcome could be stored
        b.emit(
            ev.CommentAdded(
                at=b.now, step_id=step_id, actor="system", text=trigger.note, channel="system"
            )
        )
    if isinstance(trigger, tr.CommandSucceeded):
        if what == "attempt":
            automated.succeeded(b, step_id, trigger.result)
        elif what == "compensation":
            compensation.succeeded(b, step_id)
        # a lookup's answer comes as ApproversResolved
    elif what == "attempt":
        automated.failed(b, step_id, trigger.error, trigger.reason)
    elif what == "compensation":
        compensation.failed(b, step_id, trigger.error, trigger.reason)
    elif what == "resolve":
        approval.resolved(b, step_id, [], trigger.error)


def _armed(run: RunState, step: StepState, kind: str) -> str | None:
    """The id of the `kind` timer the step waits for in its current state, if any."""
    rid, sid, level = run.run_id, step.id, step.escalation_level
    if kind == "retry" and step.status == "retrying":
        return keys.retry_timer(rid, sid, step.attempt + 1)
    if kind == "compensation_retry" and step.status == "compensating" and step.retry_at:
        return keys.compensation_retry_timer(rid, sid, step.compensation_attempt + 1)
    if step.status != "waiting" or step.resolving_level is not None:
        return None
    if step.paused and kind in ("timeout", "reminder"):
        return None  # a question holds the step's timers
    if kind == "wait" and step.type == "wait":
        return keys.wait_timer(rid, sid)
    if kind == "timeout" and step.type in ("approval", "input", "signal"):
        return keys.timeout_timer(rid, sid, level)
    if kind == "reminder" and step.type in ("approval", "input"):
        return keys.reminder_timer(rid, sid, level, step.reminders + 1)
    return None


def _timer(b: Builder, trigger: tr.TimerFired) -> None:
    timer = trigger.timer
    state = b.state.steps.get(timer.step_id or "")
    if state is None or timer.id != _armed(b.state, state, timer.kind):
        return  # stale: the step has moved on since the timer was armed
    if timer.kind in ("timeout", "reminder") and not deadlines.is_due(
        state, timer.kind, timer.due_at
    ):
        return  # armed again for another time since (a pause, a delegation)
    step = b.definition.step(state.id)
    match timer.kind:
        case "retry":
            automated.retry_due(b, state.id)
        case "compensation_retry":
            compensation.start_attempt(b, state.id, state.compensation_attempt + 1)
        case "wait":
            steps.complete(b, state.id, "done", {})
        case "timeout" if isinstance(step, ApprovalStep):
            approval.timed_out(b, step)
        case "timeout" if isinstance(step, InputStep | SignalStep):
            human.timed_out(b, step)
        case "reminder" if isinstance(step, ApprovalStep | InputStep):
            approval.remind(b, step, state.reminders + 1)
