"""Pydantic models of a workflow definition (what a YAML/JSON workflow file may say).

Field-level shape checks live here; checks across the whole definition (references between steps,
template syntax, ordering) live in `checks.py`, and loading with line numbers in `loader.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine import principal
from engine.durations import Duration

# A definition is checked, and its templates parsed, on the server's event loop: these bounds
# keep the worst case to a small fraction of a second.
MAX_STEPS = 100
MAX_TEMPLATE_EXPRESSIONS = 500  # {{ }} and {% %} in all the templates of a definition
MAX_TEMPLATE_TEXT = 32_000  # characters of all its templates together (plain text aside)

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Template = str  # a Jinja2 text template, rendered in the sandbox
Expression = str  # a Jinja2 expression (`when:`), compiled in the sandbox


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FieldType = Literal[
    "text",
    "multiline",
    "number",
    "select",
    "multiselect",
    "date",
    "datetime",
    "user",
    "users",
    "channel",
    "email",
    "url",
    "checkbox",
]


class Option(Model):
    value: str
    label: str | None = None


class FormField(Model):
    """A typed field of a start form, an input step's form, or an approver's decision form."""

    id: Name
    type: FieldType = "text"
    label: str | None = None
    hint: str | None = None
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, ge=1, le=3000)
    options: list[Option | str] | None = None
    # Decision forms only: when the field is required (e.g. a comment only on reject).
    required_on: Literal["approve", "reject"] | None = None


RetryOn = Literal["timeout", "connection", "5xx", "429"] | int
DEFAULT_RETRY_ON: tuple[RetryOn, ...] = ("timeout", "connection", "5xx", "429")


class RetryPolicy(Model):
    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_delay: Duration = Duration(seconds=1)
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    max_delay: Duration = Duration(seconds=300)
    jitter: bool = True
    # What retries: "timeout", "connection", "5xx", "429", or explicit status codes.
    retry_on: list[RetryOn] = Field(default_factory=lambda: list(DEFAULT_RETRY_ON))


class HttpAction(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: Template
    headers: dict[str, Template] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout: Duration = Duration(seconds=30)
    retry: RetryPolicy = RetryPolicy()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NOf(Model):
    n: int = Field(ge=1)


Policy = Literal["any", "all", "majority"] | NOf

# An approver is a Slack user id (U…/W…), a user group (S…), an email address, or a template
# that renders to one of those (e.g. "{{ inputs.manager }}").
Approver = Annotated[str, Field(min_length=1)]


class EscalationLevel(Model):
    """One level of an escalation chain written out: who, and how long they have (the step's
    `timeout` when not given)."""

    approvers: list[Approver] | Approver
    timeout: Duration | None = None

    def specs(self) -> list[str]:
        return [self.approvers] if isinstance(self.approvers, str) else list(self.approvers)


def level_specs(level: list[Approver] | Approver | EscalationLevel) -> list[str]:
    """The approver specs of one escalation level, whichever way it was written."""
    if isinstance(level, EscalationLevel):
        return level.specs()
    return [level] if isinstance(level, str) else list(level)


class StepBase(Model):
    id: Name
    title: Template | None = None  # may read what the step's `message` reads
    when: Expression | None = None


class ApprovalStep(StepBase):
    type: Literal["approval"]
    approvers: list[Approver] = Field(min_length=1)
    policy: Policy = "any"
    message: Template | None = None
    channel: str | None = None  # post the request in this channel instead of DMs
    fields: list[FormField] = Field(default_factory=list)
    allow_self_approval: bool = False
    remind_every: Duration | None = None
    max_reminders: int = Field(default=3, ge=0, le=100)
    timeout: Duration | None = None
    on_timeout: Literal["reject", "approve", "fail", "escalate"] = "fail"
    # Escalation chain: each level is a list of approvers (or one channel/approver string), or
    # {approvers: ..., timeout: 8h} to give that level its own timeout.
    escalate_to: list[list[Approver] | Approver | EscalationLevel] = Field(default_factory=list)
    # Reminders and the timeout stop while a question to the requester is open.
    pause_on_question: bool = True
    compensate: HttpAction | None = None

    def level_timeout(self, level: int) -> Duration | None:
        """The timeout of escalation level `level` (0: the step's own approvers)."""
        if level > 0:
            chain = self.escalate_to[level - 1]
            if isinstance(chain, EscalationLevel) and chain.timeout is not None:
                return chain.timeout
        return self.timeout

    def level_channel(self, level: int) -> str | None:
        """The channel that gets the card at escalation `level`: a lone channel as that level,
        else the step's own `channel`."""
        if level > 0:
            specs = level_specs(self.escalate_to[level - 1])
            if len(specs) == 1 and principal.is_kind(specs[0], "channel"):
                return specs[0]
        return self.channel


class InputStep(StepBase):
    type: Literal["input"]
    assignee: Approver
    message: Template | None = None
    fields: list[FormField] = Field(min_length=1)
    remind_every: Duration | None = None
    max_reminders: int = Field(default=3, ge=0, le=100)
    timeout: Duration | None = None
    pause_on_question: bool = True
    compensate: HttpAction | None = None

    def level_timeout(self, level: int) -> Duration | None:
        return self.timeout

    def level_channel(self, level: int) -> str | None:
        return None  # an input step goes to its assignee


class HttpStep(StepBase, HttpAction):
    type: Literal["http"]
    compensate: HttpAction | None = None


class NotifyStep(StepBase):
    type: Literal["notify"]
    # "requester", a Slack user id, a channel ("#name" or C…), or an email address.
    to: str = "requester"
    message: Template
    compensate: HttpAction | None = None


class WaitStep(StepBase):
    type: Literal["wait"]
    duration: Duration | None = None
    until: Template | None = None  # renders to an ISO 8601 datetime


class SignalStep(StepBase):
    """Waits for an external system to send a named signal (REST callback) with a payload."""

    type: Literal["signal"]
    name: Name | None = None  # defaults to the step id
    timeout: Duration | None = None
    compensate: HttpAction | None = None


Step = Annotated[
    ApprovalStep | InputStep | HttpStep | NotifyStep | WaitStep | SignalStep,
    Field(discriminator="type"),
]
STEP_TYPES = ("approval", "input", "http", "notify", "wait", "signal")


class Schedule(Model):
    """Start runs by themselves: on a cron expression in a time zone, or every interval. The
    expression, zone and inputs are checked in `checks.py`; fire times in `engine.schedules`."""

    cron: str | None = None  # five fields: "0 9 * * mon-fri"
    every: Duration | None = None  # elapsed time between fires: "1h"
    start: datetime | None = None  # `every` only: its first fire (default: when armed)
    timezone: str = "UTC"  # IANA name; the cron's wall clock (and a naive `start`)
    inputs: dict[str, Any] = Field(default_factory=dict)
    # A fire found late (the service was down): `run_once` starts one run for all the missed
    # fires, `skip` starts none. Within `grace` a fire counts as on time; the default outlasts
    # the timer lease, so a fire whose claimer crashed still runs when another replica takes it.
    misfire: Literal["run_once", "skip"] = "run_once"
    grace: Duration = Duration(seconds=300)
    requester: str = Field(default="system:schedule", min_length=1)


class Output(Model):
    """A value the workflow hands back when a run ends (e.g. to the Slack workflow step that
    started it): a template over the run, typically `{{ steps.ticket.values.ticket }}`."""

    id: Name
    value: Template = Field(max_length=2000)
    description: str | None = None


class WorkflowDefinition(Model):
    name: Name
    title: str | None = None
    description: str | None = None
    # One line that tells this workflow's runs apart in lists (e.g. "{{ inputs.vendor }}"),
    # rendered once when a run starts; without it the first required inputs are shown.
    summary: Template | None = Field(default=None, max_length=500)
    inputs: list[FormField] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    schedule: Schedule | None = None
    outputs: list[Output] = Field(default_factory=list, max_length=50)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
