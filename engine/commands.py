"""Commands: what the world must do for a run. The decider emits them; the store writes them to the
outbox in the same transaction as the events that caused them; the dispatcher performs them through
a `CommandHandler` and feeds the outcome back as a trigger.

`key` is the command's idempotency key: deterministic (derived from run, step, attempt), so a
re-dispatched command carries the same key and the receiver can refuse to act twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from engine.definitions.models import HttpAction
from engine.grants import Grant


class CommandBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    tenant_id: str
    run_id: str


class CallHttp(CommandBase):
    """Perform an http step (or a compensation). Templates are rendered at dispatch time, with the
    `context` given here plus the tenant's `secrets`, so secret values never reach the database."""

    type: Literal["call_http"] = "call_http"
    step_id: str
    attempt: int
    compensation: bool = False
    action: HttpAction
    context: dict[str, Any]


class ResolveApprovers(CommandBase):
    """Look up user groups and emails in the directory; the result comes back as
    `ApproversResolved`."""

    type: Literal["resolve_approvers"] = "resolve_approvers"
    step_id: str
    specs: list[str]


class RequestApproval(CommandBase):
    """Ask one approver to decide (a Slack card, an email with signed links...)."""

    type: Literal["request_approval"] = "request_approval"
    step_id: str
    approver: str
    # "delegated": the approver acts for someone else (state.steps[..].acting_for tells whom)
    kind: Literal["request", "reminder", "escalated", "delegated"] = "request"


class UpdateApproval(CommandBase):
    """An approval or input step changed (a vote, a hand-off, its closing by any channel):
    refresh every view of it (Slack cards, email, the App Home). The name is historical; stored
    commands keep the type "update_approval"."""

    type: Literal["update_approval"] = "update_approval"
    step_id: str


class RequestInput(CommandBase):
    type: Literal["request_input"] = "request_input"
    step_id: str
    assignee: str
    kind: Literal["request", "reminder", "delegated"] = "request"


class AskQuestion(CommandBase):
    """Deliver an approver's question to the requester (`to`), who answers from their message."""

    type: Literal["ask_question"] = "ask_question"
    step_id: str
    question_id: str
    to: str
    by: str
    text: str


class AnswerDelivered(CommandBase):
    """Tell the asker (`to`) the requester's answer to their question."""

    type: Literal["answer_delivered"] = "answer_delivered"
    step_id: str
    question_id: str
    to: str
    by: str
    text: str


class SendNotification(CommandBase):
    """A notify step: `to` is a resolved recipient (user id, channel, "email:addr")."""

    type: Literal["send_notification"] = "send_notification"
    step_id: str
    to: str
    text: str


class RunChanged(CommandBase):
    """The run's status or current step changed: tell the requester (update their message), and
    when the run has finished and names a callback URL, the completion webhook."""

    type: Literal["run_changed"] = "run_changed"
    status: str
    final: bool = False


class CompleteSlackStep(CommandBase):
    """The run a Slack Workflow Builder step waits for has ended: finish the step
    (functions.completeSuccess with its outputs, or functions.completeError with the reason)."""

    type: Literal["complete_slack_step"] = "complete_slack_step"
    status: str


class RecordGrant(CommandBase):
    """Store the standing grant an approval gave (`engine.grants.grant_of`). Emitted by the
    decision that closes the approval, so it is committed with it: a crash after that commit
    cannot lose the grant. Stored by its id, insert-if-absent, so a repeat is harmless and
    never undoes a revocation."""

    type: Literal["record_grant"] = "record_grant"
    step_id: str
    grant: Grant


Command = Annotated[
    CallHttp
    | ResolveApprovers
    | RequestApproval
    | UpdateApproval
    | RequestInput
    | AskQuestion
    | AnswerDelivered
    | SendNotification
    | RunChanged
    | CompleteSlackStep
    | RecordGrant,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class Timer(BaseModel):
    """A durable timer. `id` is deterministic so arming the same timer twice is harmless."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    tenant_id: str
    run_id: str
    due_at: datetime
    kind: Literal["retry", "wait", "reminder", "timeout", "compensation_retry", "schedule"]
    step_id: str | None = None
    attempt: int = 0
