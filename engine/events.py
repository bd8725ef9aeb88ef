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


class Deadlines(BaseModel):
    """When a waiting human step will next remind, escalate or time out, as decided when it was
    (re)scheduled: carried by the events that schedule, so replay needs neither the definition
    nor the working-hours settings. `reminders_due` is per person (their own working hours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reminders_due: dict[str, datetime] = Field(default_factory=dict)
    times_out_at: datetime | None = None  # the timeout ends the step (approve/reject/fail)
    escalates_at: datetime | None = None  # the timeout moves the step to the next level


class RunStarted(EventBase):
    type: Literal["run_started"] = "run_started"
    run_id: str
    tenant_id: str
    workflow: str
    version: int
    requester: str
    inputs: dict[str, Any]
    callback_url: str | None = None
    # The execution id of the Slack Workflow Builder step waiting for this run: its end sends
    # CompleteSlackStep.
    slack_step: str | None = None
    # The version's step ids and types, in definition order, so replay needs no definition.
    steps: dict[str, str] = Field(default_factory=dict)
    # The run's one-line summary (engine.display.run_summary), rendered once at the start.
    summary: str = ""


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
    time_zones: dict[str, str] = Field(default_factory=dict)  # principal -> IANA zone used
    deadlines: Deadlines | None = None


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
    time_zones: dict[str, str] = Field(default_factory=dict)
    deadlines: Deadlines | None = None


class SignalAwaited(EventBase):
    type: Literal["signal_awaited"] = "signal_awaited"
    step_id: str
    name: str


class WaitStarted(EventBase):
    type: Literal["wait_started"] = "wait_started"
    step_id: str
    until: datetime


class ShownRef(BaseModel):
    """Which `request_shown` record a decision was made on: its hash, its seq in the run, and
    the channel and recipient it was shown on (a shared Slack channel card: the channel)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    seq: int
    channel: Channel
    recipient: str
    shared: bool = False


class RequestShown(EventBase):
    """What a channel showed one person (or a shared channel) of a waiting approval or input
    step: the text and fields as rendered, and their hash (engine.shown.shown_hash). Recorded
    when the content shown to that recipient on that channel changes, not on every redraw."""

    type: Literal["request_shown"] = "request_shown"
    step_id: str
    recipient: str
    channel: Channel
    surface: str  # e.g. "slack card", "email", "email link page", "web page"
    text: str
    fields: dict[str, Any] = Field(default_factory=dict)
    sha256: str
    shared: bool = False  # shown in a place everyone there sees (a Slack channel's card)


class DecisionRecorded(EventBase):
    type: Literal["decision_recorded"] = "decision_recorded"
    step_id: str
    actor: str
    decision: Decision
    fields: dict[str, Any] = Field(default_factory=dict)
    channel: Channel
    override: bool = False  # an operator decided for someone else (CLI/API), audited as such
    # Why, for a decision the system made (e.g. on_timeout: reject) or an operator's override.
    reason: str = ""
    # The identity proof the decision came with (ids only, never a token or cookie): e.g. the
    # Slack user and team, the signed link's principal and nonce, the API key's id and name.
    proof: dict[str, str] = Field(default_factory=dict)
    # What was shown to the actor before they decided (None: nothing was recorded).
    shown: ShownRef | None = None


class InputSubmitted(EventBase):
    type: Literal["input_submitted"] = "input_submitted"
    step_id: str
    actor: str
    values: dict[str, Any]
    channel: Channel
    override: bool = False  # an operator filled it in for the assignee
    # As on DecisionRecorded: the submitter's identity proof (ids only) and what they were shown.
    proof: dict[str, str] = Field(default_factory=dict)
    shown: ShownRef | None = None


class SignalReceived(EventBase):
    type: Literal["signal_received"] = "signal_received"
    step_id: str
    payload: dict[str, Any]


class ReminderSent(EventBase):
    type: Literal["reminder_sent"] = "reminder_sent"
    step_id: str
    number: int  # the step's reminder round at this level (1, 2, ...)
    to: list[str] = Field(default_factory=list)  # who was reminded in this round
    deadlines: Deadlines | None = None


class StepEscalated(EventBase):
    type: Literal["step_escalated"] = "step_escalated"
    step_id: str
    level: int
    approvers: list[str]
    reason: str = ""  # why it came to them, e.g. "no decision within 8h from U1"
    time_zones: dict[str, str] = Field(default_factory=dict)
    deadlines: Deadlines | None = None


DelegationKind = Literal["delegate", "reassign", "away"]


class StepDelegated(EventBase):
    """`from_`'s part of a waiting approval or input step moved to `to`: handed on by them
    ("delegate"), by an admin ("reassign"), or because `from_` is out of office ("away")."""

    type: Literal["step_delegated"] = "step_delegated"
    step_id: str
    from_: str
    to: str
    by: str
    kind: DelegationKind
    reason: str = ""
    channel: Channel = "system"
    time_zones: dict[str, str] = Field(default_factory=dict)
    deadlines: Deadlines | None = None


class QuestionAsked(EventBase):
    type: Literal["question_asked"] = "question_asked"
    step_id: str
    question_id: str
    by: str
    to: str
    text: str
    channel: Channel
    pauses: bool  # the step's reminders and timeout stop until it is answered


class QuestionAnswered(EventBase):
    type: Literal["question_answered"] = "question_answered"
    step_id: str
    question_id: str
    by: str
    text: str
    channel: Channel
    deadlines: Deadlines | None = None  # set when the answer resumes the step's timers


class CommentAdded(EventBase):
    """A note in the run's timeline (e.g. a reply in an approval card's thread); not a decision."""

    type: Literal["comment_added"] = "comment_added"
    step_id: str | None = None
    actor: str
    text: str
    channel: Channel


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
    | RequestShown
    | InputSubmitted
    | SignalReceived
    | ReminderSent
    | StepEscalated
    | StepDelegated
    | QuestionAsked
    | QuestionAnswered
    | CommentAdded
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
