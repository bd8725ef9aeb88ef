"""Triggers: what the decider is asked to react to (a request from a person or an outcome from
the world). Unlike events they are not stored; the decider turns each into zero or more events.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.away import Away
from engine.commands import Timer
from engine.events import Channel, Decision


class TriggerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartRun(TriggerBase):
    type: Literal["start_run"] = "start_run"
    run_id: str
    tenant_id: str
    version: int = 1  # the definition version the run is pinned to
    requester: str
    inputs: dict[str, Any]  # already validated against the definition's inputs
    callback_url: str | None = None
    slack_step: str | None = None  # the execution id of a Slack workflow step waiting for it


class Decide(TriggerBase):
    type: Literal["decide"] = "decide"
    step_id: str
    actor: str
    decision: Decision
    fields: dict[str, Any] = Field(default_factory=dict)
    channel: Channel
    # An operator override (CLI `runs decide --override`): closes the step with this decision,
    # whoever its approvers are; audited as such, with the operator's `reason`.
    override: bool = False
    reason: str = ""
    admin: bool = False  # the actor is an admin (an override needs one)
    # Who passed the decision on for `actor` (an API key deciding on an approver's behalf),
    # when not the actor: the one who asked for an approval may not decide it this way either.
    proxy: str | None = None
    proof: dict[str, str] = Field(default_factory=dict)  # see events.DecisionRecorded.proof


class ShownItem(TriggerBase):
    """One rendering a channel showed: see events.RequestShown."""

    step_id: str
    recipient: str
    channel: Channel
    surface: str
    text: str
    fields: dict[str, Any] = Field(default_factory=dict)
    sha256: str
    shared: bool = False


class RecordShown(TriggerBase):
    """A channel showed these renderings of the run's waiting steps (recorded when changed)."""

    type: Literal["record_shown"] = "record_shown"
    items: list[ShownItem]


class SubmitInput(TriggerBase):
    type: Literal["submit_input"] = "submit_input"
    step_id: str
    actor: str
    values: dict[str, Any]
    channel: Channel
    # An operator override: fills in the form for the assignee, audited as such.
    override: bool = False
    admin: bool = False
    proof: dict[str, str] = Field(default_factory=dict)  # see events.DecisionRecorded.proof


class Signal(TriggerBase):
    type: Literal["signal"] = "signal"
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)


class Cancel(TriggerBase):
    type: Literal["cancel"] = "cancel"
    actor: str
    reason: str = ""
    channel: Channel = "system"
    admin: bool = False  # an admin may cancel any run; others only their own


class Delegate(TriggerBase):
    """Move `from_`'s part of a waiting step to `to`. A delegation: `actor` hands on their own
    part (`from_` is the actor). A `reassign` (an admin's only): `from_` None means the only
    person the step waits on."""

    type: Literal["delegate"] = "delegate"
    step_id: str
    actor: str
    to: str
    from_: str | None = None
    reassign: bool = False
    admin: bool = False  # the actor is an admin (a reassign needs one)
    # `to`'s out-of-office as stored when asked (read fresh by the runtime): someone away
    # cannot be handed a request.
    to_away: Away | None = None
    reason: str = ""
    channel: Channel = "api"


class Ask(TriggerBase):
    type: Literal["ask"] = "ask"
    step_id: str
    actor: str
    text: str
    channel: Channel = "api"


class Answer(TriggerBase):
    type: Literal["answer"] = "answer"
    step_id: str
    question_id: str
    actor: str
    text: str
    channel: Channel = "api"


class Comment(TriggerBase):
    type: Literal["comment"] = "comment"
    actor: str
    text: str
    step_id: str | None = None
    channel: Channel = "slack"


class ApproversResolved(TriggerBase):
    type: Literal["approvers_resolved"] = "approvers_resolved"
    command_key: str
    step_id: str
    approvers: list[str]
    error: str | None = None  # e.g. an unknown user group: the step fails with this message


class CommandSucceeded(TriggerBase):
    type: Literal["command_succeeded"] = "command_succeeded"
    command_key: str
    result: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None  # for the timeline: how the outcome was cleaned to be stored


class CommandFailed(TriggerBase):
    type: Literal["command_failed"] = "command_failed"
    command_key: str
    error: str
    # What kind of failure, matched against RetryPolicy.retry_on: "timeout", "connection",
    # "5xx", "429", an HTTP status code as a string, or "permanent".
    reason: str = "permanent"
    note: str | None = None  # for the timeline: how the outcome was cleaned to be stored


class TimerFired(TriggerBase):
    type: Literal["timer_fired"] = "timer_fired"
    timer: Timer


Trigger = (
    StartRun
    | Decide
    | RecordShown
    | SubmitInput
    | Signal
    | Cancel
    | Delegate
    | Ask
    | Answer
    | Comment
    | ApproversResolved
    | CommandSucceeded
    | CommandFailed
    | TimerFired
)
