"""The state of one run, as `decider.evolve` folds it from the run's events.

It is also the run projection the store keeps (as JSON beside the run row), so loading a run is a
single read; replaying the events must give back exactly the same state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.events import RunStatus, ShownRef

StepStatus = Literal[
    "pending",  # not reached yet
    "skipped",  # its `when:` was false
    "running",  # an automated attempt is in flight
    "retrying",  # an attempt failed; the next one waits for a timer
    "waiting",  # waiting on a person, a signal or a wait timer
    "completed",
    "rejected",
    "failed",
    "compensating",
    "compensated",
    "compensation_failed",
    "cancelled",  # was waiting or running when the run was cancelled
]


class Vote(BaseModel):
    actor: str
    decision: Literal["approve", "reject"]
    fields: dict[str, Any] = Field(default_factory=dict)
    channel: str
    at: datetime
    override: bool = False  # an operator closed the step for someone else
    reason: str = ""  # why the system decided (on_timeout) or an operator overrode; else empty

    @property
    def by_system(self) -> bool:
        """The system's decision (a declared default on timeout), not a person's."""
        return self.actor == "system" and self.channel == "system"

    def counts(self, approvers: list[str]) -> bool:
        """The vote counts towards the outcome: one of the current `approvers`', an operator's
        override or the system's decision."""
        return self.override or self.by_system or self.actor in approvers


class Delegation(BaseModel):
    """`from_`'s part of the step went to `to`, handed on by `by` (kind delegate/reassign/away)."""

    from_: str
    to: str
    by: str
    kind: Literal["delegate", "reassign", "away"]
    reason: str = ""
    at: datetime


class Question(BaseModel):
    """An approver's (or assignee's) question to the requester, and its answer once given."""

    id: str
    by: str
    to: str
    text: str
    asked_at: datetime
    pauses: bool = True
    answer: str | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None


class StepState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    status: StepStatus = "pending"
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: Literal["approved", "rejected", "done"] | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    # approval / input steps
    approvers: list[str] = Field(default_factory=list)
    required: int = 0
    votes: list[Vote] = Field(default_factory=list)
    escalation_level: int = 0
    reminders: int = 0
    waiting_until: datetime | None = None  # wait steps
    signal: str | None = None  # signal steps: the name awaited
    # Set while approvers are looked up in the directory: the escalation level being resolved.
    resolving_level: int | None = None
    # When the next attempt (or compensation attempt) is due; None while one is in flight.
    retry_at: datetime | None = None
    compensation_attempt: int = 0
    # approval / input steps: who, since when, and what happens next (see events.Deadlines)
    requested_at: datetime | None = None  # when people were first asked (waiting since)
    escalated_at: datetime | None = None  # when the current escalation level was asked
    escalation_reason: str | None = None  # why it was escalated, for the escalated approver
    delegations: list[Delegation] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    reminders_due: dict[str, datetime] = Field(default_factory=dict)  # per person not yet acted
    reminded: dict[str, int] = Field(default_factory=dict)  # reminders sent, per person
    next_reminder_at: datetime | None = None
    escalates_at: datetime | None = None
    times_out_at: datetime | None = None
    paused: bool = False  # an open question stops reminders and the timeout
    paused_at: datetime | None = None
    approver_time_zones: dict[str, str] = Field(default_factory=dict)
    # The latest request_shown per "channel recipient" (engine.shown.shown_key).
    shown: dict[str, ShownRef] = Field(default_factory=dict)

    def open_question(self) -> Question | None:
        return next((q for q in self.questions if q.answer is None), None)

    def acting_for(self, principal: str) -> Delegation | None:
        """The delegation that made `principal` an approver, if they are one by delegation."""
        return next((d for d in reversed(self.delegations) if d.to == principal), None)


class RunState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    tenant_id: str
    workflow: str
    version: int
    requester: str
    inputs: dict[str, Any]
    summary: str = ""  # what the run is about, for lists (from run_started)
    callback_url: str | None = None
    # The execution id of the Slack Workflow Builder step waiting for this run to end.
    slack_step: str | None = None
    status: RunStatus = "running"
    reason: str = ""
    current_step: str | None = None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    steps: dict[str, StepState] = Field(default_factory=dict)  # in definition order
    compensation_queue: list[str] = Field(default_factory=list)  # still to undo, next first
    compensation_cause: Literal["failed", "rejected", "cancelled"] | None = None
    cancel_requested: bool = False
    cancelled_by: str | None = None
    cancel_reason: str = ""
    seq: int = 0  # number of events folded in

    def participants(self) -> set[str]:
        """Everyone who takes part in the run: the requester, everyone asked to approve or fill
        in a step (now or before an escalation moved it on), and everyone who decided."""
        found = {self.requester}
        for step in self.steps.values():
            found.update(step.approvers)
            found.update(v.actor for v in step.votes)
            found.update(d.from_ for d in step.delegations)
        return found

    def waiting_on(self) -> list[tuple[str, str]]:
        """(step_id, principal) pairs of people who still have to act on this run."""
        out: list[tuple[str, str]] = []
        for step in self.steps.values():
            if step.status != "waiting" or step.type not in ("approval", "input"):
                continue
            voted = {v.actor for v in step.votes}
            out.extend((step.id, p) for p in step.approvers if p not in voted)
        return out
