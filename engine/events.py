"""Events: the facts of a run, appended in order and never changed. Replaying them with
`decider.evolve` rebuilds the run's state exactly.

Every event is a frozen pydantic model with a `type` tag, so the store can serialise any event to
JSON (`EVENT_ADAPTER.dump_json`) and read it back (`EVENT_ADAPTER.validate_json`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Decision = Literal["approve", "reject"]
# Through which door a human action came in: recorded in the audit trail.
Channel = Literal["slack", "email", "web", "api", "cli", "system"]
RunStatus = Literal[
    "running",
    "compensating",
    "completed",
    "rejected",
    "failed",
    "cancelled",
    "compensation_failed",
]
FINAL_STATUSES: frozenset[str] = frozenset(
    {"completed", "rejected", "failed", "cancelled", "compensation_failed"}
)


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime


class RunStarted(EventBase):
    type: Literal["run_started"] = "run_started"
    run_id: str
    tenant_id: str
    workflow: str
    version: int
    requester: str
    inputs: dict[str, Any]
    callback_url: str | None = None
    # The version's step ids and types, in definition order, so replay needs no definition.
    steps: dict[str, str] = Field(default_factory=dict)


class StepSkipped(EventBase):
    type: Literal["step_skipped"] = "step_skipped"
    step_id: str
    reason: str


class StepStarted(EventBase):
    """An automated step (http, notify) begins an attempt; its command is in the outbox."""

    type: Literal["step_started"] = "step_started"
    step_id: str
    attempt: int


class ApprovalRequested(EventBase):
    type: Literal["approval_requested"] = "approval_requested"
    step_id: str
    approvers: list[str]  # resolved principals: Slack user ids or "email:addr"
    required: int  # approvals needed to approve
    escalation_level: int = 0


class ApproversResolving(EventBase):
    """Approvers include groups or emails that need a directory lookup before the request."""

    type: Literal["approvers_resolving"] = "approvers_resolving"
    step_id: str
    specs: list[str]
    escalation_level: int = 0  # > 0: looking up the approvers of that escalation level


class InputRequested(EventBase):
    type: Literal["input_requested"] = "input_requested"
    step_id: str
    assignee: str


class SignalAwaited(EventBase):
    type: Literal["signal_awaited"] = "signal_awaited"
    step_id: str
    name: str


class WaitStarted(EventBase):
    type: Literal["wait_started"] = "wait_started"
    step_id: str
    until: datetime


class DecisionRecorded(EventBase):
    type: Literal["decision_recorded"] = "decision_recorded"
    step_id: str
    actor: str
    decision: Decision
    fields: dict[str, Any] = Field(default_factory=dict)
    channel: Channel
    override: bool = False  # an operator decided for someone else (CLI/API), audited as such


class InputSubmitted(EventBase):
    type: Literal["input_submitted"] = "input_submitted"
    step_id: str
    actor: str
    values: dict[str, Any]
    channel: Channel
    override: bool = False  # an operator filled it in for the assignee


class SignalReceived(EventBase):
    type: Literal["signal_received"] = "signal_received"
    step_id: str
    payload: dict[str, Any]


class ReminderSent(EventBase):
    type: Literal["reminder_sent"] = "reminder_sent"
    step_id: str
    number: int


class StepEscalated(EventBase):
    type: Literal["step_escalated"] = "step_escalated"
    step_id: str
    level: int
    approvers: list[str]


class StepTimedOut(EventBase):
    type: Literal["step_timed_out"] = "step_timed_out"
    step_id: str
    action: Literal["reject", "approve", "fail", "escalate"]


class AttemptFailed(EventBase):
    type: Literal["attempt_failed"] = "attempt_failed"
    step_id: str
    attempt: int
    error: str
    retry_at: datetime | None  # None: no retry left or the error does not retry
    compensation: bool = False


class StepCompleted(EventBase):
    type: Literal["step_completed"] = "step_completed"
    step_id: str
    outcome: Literal["approved", "rejected", "done"]
    output: dict[str, Any] = Field(default_factory=dict)


class StepFailed(EventBase):
    type: Literal["step_failed"] = "step_failed"
    step_id: str
    error: str


class CancelRequested(EventBase):
    type: Literal["cancel_requested"] = "cancel_requested"
    actor: str
    reason: str = ""
    channel: Channel = "system"


class CompensationStarted(EventBase):
    type: Literal["compensation_started"] = "compensation_started"
    cause: Literal["failed", "rejected", "cancelled"]
    steps: list[str]  # the steps to undo, in the order they will be undone


class CompensationAttemptStarted(EventBase):
    type: Literal["compensation_attempt_started"] = "compensation_attempt_started"
    step_id: str
    attempt: int


class StepCompensated(EventBase):
    type: Literal["step_compensated"] = "step_compensated"
    step_id: str


class StepCompensationFailed(EventBase):
    type: Literal["step_compensation_failed"] = "step_compensation_failed"
    step_id: str
    error: str


class RunFinished(EventBase):
    type: Literal["run_finished"] = "run_finished"
    status: RunStatus
    reason: str = ""


Event = Annotated[
    RunStarted
    | StepSkipped
    | StepStarted
    | ApprovalRequested
    | ApproversResolving
    | InputRequested
    | SignalAwaited
    | WaitStarted
    | DecisionRecorded
    | InputSubmitted
    | SignalReceived
    | ReminderSent
    | StepEscalated
    | StepTimedOut
    | AttemptFailed
    | StepCompleted
    | StepFailed
    | CancelRequested
    | CompensationStarted
    | CompensationAttemptStarted
    | StepCompensated
    | StepCompensationFailed
    | RunFinished,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
