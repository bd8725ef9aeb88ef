"""Plain-language lines for a run's events: the audit trail as people read it (CLI, Slack, web)."""

from __future__ import annotations

from engine import events as ev


def describe(event: ev.Event) -> str:
    """One sentence saying what happened, without the time (callers format that)."""
    match event:
        case ev.RunStarted():
            given = _inputs(event.inputs)
            return f"{event.requester} started {event.workflow} v{event.version}" + (
                f" with {given}" if given else ""
            )
        case ev.StepSkipped():
            return f"step {event.step_id} skipped: {event.reason}"
        case ev.StepStarted():
            again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            return f"step {event.step_id} started{again}"
        case ev.ApproversResolving():
            return f"step {event.step_id}: looking up approvers {', '.join(event.specs)}"
        case ev.ApprovalRequested():
            who = ", ".join(event.approvers)
            return f"step {event.step_id} asks {who} for approval ({event.required} needed)"
        case ev.InputRequested():
            return f"step {event.step_id} asks {event.assignee} to fill in a form"
        case ev.SignalAwaited():
            return f"step {event.step_id} waits for signal '{event.name}'"
        case ev.WaitStarted():
            return f"step {event.step_id} waits until {event.until.isoformat()}"
        case ev.DecisionRecorded() if event.actor == "system" and event.channel == "system":
            verb = "approved" if event.decision == "approve" else "rejected"
            return f"the system {verb} step {event.step_id}: {event.reason}"
        case ev.DecisionRecorded():
            verb = "approved" if event.decision == "approve" else "rejected"
            why = f": {event.reason}" if event.reason else ""
            note = f" (operator override{why})" if event.override else ""
            given = _inputs(event.fields)
            extra = f": {given}" if given else ""
            return f"{event.actor} {verb} step {event.step_id} via {event.channel}{note}{extra}"
        case ev.RequestShown():
            return (
                f"step {event.step_id} shown to {event.recipient} ({event.surface}), "
                f"sha256 {event.sha256[:12]}"
            )
        case ev.InputSubmitted():
            return f"{event.actor} filled in step {event.step_id} via {event.channel}"
        case ev.SignalReceived():
            return f"step {event.step_id} received its signal"
        case ev.ReminderSent():
            who = f" to {', '.join(event.to)}" if event.to else ""
            return f"step {event.step_id}: reminder {event.number} sent{who}"
        case ev.StepEscalated():
            why = f": {event.reason}" if event.reason else ""
            return (
                f"step {event.step_id} escalated (level {event.level}) "
                f"to {', '.join(event.approvers)}{why}"
            )
        case ev.StepDelegated():
            why = f": {event.reason}" if event.reason else ""
            if event.kind == "away":
                return f"step {event.step_id}: {event.to} acts for {event.from_}{why}"
            verb = "reassigned" if event.kind == "reassign" else "delegated"
            return (
                f"{event.by} {verb} step {event.step_id} from {event.from_} to {event.to} "
                f"via {event.channel}{why}"
            )
        case ev.QuestionAsked():
            paused = " (reminders and timeout paused)" if event.pauses else ""
            return f"{event.by} asked {event.to} on step {event.step_id}: {event.text}{paused}"
        case ev.QuestionAnswered():
            return f"{event.by} answered on step {event.step_id}: {event.text}"
        case ev.CommentAdded() if event.actor == "system" and event.channel == "system":
            return f"note on step {event.step_id}: {event.text}"
        case ev.CommentAdded():
            on = f" on step {event.step_id}" if event.step_id else ""
            return f"{event.actor} commented{on} via {event.channel}: {event.text}"
        case ev.StepTimedOut():
            return f"step {event.step_id} timed out ({event.action})"
        case ev.AttemptFailed():
            what = "compensation of " if event.compensation else ""
            then = f"; retry at {event.retry_at.isoformat()}" if event.retry_at else "; no retry"
            return f"{what}step {event.step_id} attempt {event.attempt} failed: {event.error}{then}"
        case ev.StepCompleted():
            return f"step {event.step_id} {event.outcome}"
        case ev.StepFailed():
            return f"step {event.step_id} failed: {event.error}"
        case ev.CancelRequested():
            why = f": {event.reason}" if event.reason else ""
            return f"{event.actor} cancelled the run via {event.channel}{why}"
        case ev.CompensationStarted():
            steps = ", ".join(event.steps) or "nothing to undo"
            return f"compensating after the run {event.cause}: {steps}"
        case ev.CompensationAttemptStarted():
            return f"undoing step {event.step_id} (attempt {event.attempt})"
        case ev.StepCompensated():
            return f"step {event.step_id} undone"
        case ev.StepCompensationFailed():
            return f"undoing step {event.step_id} FAILED: {event.error}"
        case ev.RunFinished():
            why = f": {event.reason}" if event.reason else ""
            return f"run {event.status}{why}"
    raise AssertionError(f"no description for {type(event).__name__}")  # pragma: no cover


def _inputs(values: dict[str, object]) -> str:
    """`amount=120, note='x'`, leaving out what was not given (an optional field left empty)."""
    return ", ".join(f"{k}={v!r}" for k, v in values.items() if v not in (None, "", []))
