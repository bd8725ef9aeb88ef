"""Request and response models of the REST API. The OpenAPI document is generated from these
(`web.api.openapi`), so what is validated and what is documented cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from engine import Decision, Question, RecordedEvent, RunState, RunStatus, StoredDefinition


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- errors


class ErrorDetail(Schema):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`.")
    message: str = Field(description="What went wrong, for a person.")
    details: Any = Field(default=None, description="Per-field problems, when there are some.")


class ErrorResponse(Schema):
    error: ErrorDetail


# ---------------------------------------------------------------- workflows


class ApplyWorkflowRequest(Schema):
    """A workflow definition, as YAML or JSON text (`source`) or as a JSON object
    (`definition`). Give exactly one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "definition": {
                        "name": "purchase",
                        "inputs": [{"id": "item", "type": "text", "required": True}],
                        "steps": [{"id": "manager", "type": "approval", "approvers": ["U0BOB"]}],
                    }
                }
            ]
        },
    )

    source: str | None = Field(default=None, max_length=1_000_000)
    definition: dict[str, Any] | None = None
    filename: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _exactly_one(self) -> ApplyWorkflowRequest:
        if (self.source is None) == (self.definition is None):
            raise ValueError("give exactly one of `source` (YAML/JSON text) or `definition`")
        return self


class AppliedWorkflow(Schema):
    name: str
    version: int
    created: bool = Field(description="False when identical to the latest version.")


class WorkflowSummary(Schema):
    name: str
    version: int
    title: str | None
    description: str | None
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, d: StoredDefinition) -> WorkflowSummary:
        return cls(
            name=d.name,
            version=d.version,
            title=d.definition.title,
            description=d.definition.description,
            disabled=d.disabled,
            created_at=d.created_at,
        )


class WorkflowDetail(WorkflowSummary):
    source: str
    definition: dict[str, Any]

    @classmethod
    def of(cls, d: StoredDefinition) -> WorkflowDetail:
        return cls(
            **WorkflowSummary.of(d).model_dump(),
            source=d.source,
            definition=d.definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        )


class WorkflowList(Schema):
    workflows: list[WorkflowSummary]


class WorkflowQuery(Schema):
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


# ---------------------------------------------------------------- runs


class StartRunRequest(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workflow": "purchase",
                    "inputs": {"item": "desk", "amount": 120},
                    "requester": "U0ALICE",
                }
            ]
        },
    )

    workflow: str = Field(min_length=1, max_length=63)
    inputs: dict[str, Any] = Field(default_factory=dict)
    requester: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        description="Who the run is for (a Slack user id or `email:addr`). "
        "Defaults to `api:<key id>`.",
    )
    callback_url: AnyHttpUrl | None = Field(
        default=None, description="Receives the signed completion webhook."
    )


class VoteView(Schema):
    actor: str
    decision: Decision
    fields: dict[str, Any]
    channel: str
    at: datetime
    override: bool
    reason: str = Field(
        default="", description="Why, when the system decided (on timeout) or an operator overrode."
    )


class QuestionView(Schema):
    question_id: str
    step_id: str
    by: str = Field(description="The approver who asked.")
    to: str = Field(description="Who is asked: the run's requester.")
    text: str
    asked_at: datetime | None
    answer: str | None
    answered_at: datetime | None
    answered_by: str | None

    @classmethod
    def of(cls, step_id: str, q: Question) -> QuestionView:
        return cls(
            question_id=q.id,
            step_id=step_id,
            by=q.by,
            to=q.to,
            text=q.text,
            asked_at=q.asked_at,
            answer=q.answer,
            answered_at=q.answered_at,
            answered_by=q.answered_by,
        )


class DelegationView(Schema):
    from_: str = Field(serialization_alias="from", description="Whose part moved.")
    to: str
    by: str = Field(description="Who handed it over (the approver, an admin, or the system).")
    kind: str = Field(description="`delegate`, `reassign` (by an admin) or `away`.")


class StepView(Schema):
    id: str
    type: str
    status: str
    attempt: int
    outcome: str | None
    output: dict[str, Any]
    error: str | None
    approvers: list[str]
    required: int
    votes: list[VoteView]
    started_at: datetime | None
    finished_at: datetime | None
    escalation_level: int = 0
    next_reminder_at: datetime | None = None
    escalates_at: datetime | None = None
    times_out_at: datetime | None = None
    paused: bool = Field(default=False, description="The clock stops while a question is open.")
    delegations: list[DelegationView] = Field(default_factory=list)
    questions: list[QuestionView] = Field(default_factory=list)


class WaitingOn(Schema):
    step_id: str
    principal: str


class RunView(Schema):
    run_id: str
    workflow: str
    version: int
    summary: str = Field(
        description="What the run is about: the workflow's `summary:` rendered when the run "
        "started, or its first required inputs by their labels."
    )
    requester: str
    status: RunStatus
    reason: str
    current_step: str | None
    inputs: dict[str, Any]
    callback_url: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps: list[StepView]
    waiting_on: list[WaitingOn]

    @classmethod
    def of(cls, s: RunState) -> RunView:
        return cls(
            run_id=s.run_id,
            workflow=s.workflow,
            version=s.version,
            summary=s.summary,
            requester=s.requester,
            status=s.status,
            reason=s.reason,
            current_step=s.current_step,
            inputs=s.inputs,
            callback_url=s.callback_url,
            started_at=s.started_at,
            updated_at=s.updated_at,
            finished_at=s.finished_at,
            steps=[
                StepView(
                    **step.model_dump(
                        include={
                            "id",
                            "type",
                            "status",
                            "attempt",
                            "outcome",
                            "output",
                            "error",
                            "approvers",
                            "required",
                            "started_at",
                            "finished_at",
                        }
                    ),
                    votes=[VoteView(**v.model_dump()) for v in step.votes],
                    escalation_level=step.escalation_level,
                    next_reminder_at=step.next_reminder_at,
                    escalates_at=step.escalates_at,
                    times_out_at=step.times_out_at,
                    paused=step.paused,
                    delegations=[
                        DelegationView(from_=d.from_, to=d.to, by=d.by, kind=d.kind)
                        for d in step.delegations
                    ],
                    questions=[QuestionView.of(step.id, q) for q in step.questions],
                )
                for step in s.steps.values()
            ],
            waiting_on=[WaitingOn(step_id=st, principal=p) for st, p in s.waiting_on()],
        )


class TimelineEntry(Schema):
    seq: int
    type: str
    at: datetime
    step_id: str | None = None
    actor: str | None = Field(default=None, description="Who acted, for human actions.")
    channel: str | None = Field(default=None, description="Through which door: slack, email...")
    data: dict[str, Any] = Field(description="The event's other fields.")

    @classmethod
    def of(cls, r: RecordedEvent) -> TimelineEntry:
        data = r.event.model_dump(mode="json")
        common = {k: data.pop(k, None) for k in ("type", "at", "step_id", "actor", "channel")}
        if r.event.type == "run_started":
            common["actor"] = data.get("requester")
        elif common["actor"] is None and isinstance(data.get("by"), str):
            common["actor"] = data["by"]  # delegations and questions name who acted `by`
        return cls(seq=r.seq, data=data, **common)


class RunDetail(RunView):
    """A run as every other call returns it, with its timeline."""

    timeline: list[TimelineEntry]
    run: RunView = Field(
        deprecated=True,
        description="Deprecated: the same run, as this call returned it before the run's "
        "fields came at the top level (as from every other call). Read those instead.",
    )

    @classmethod
    def with_timeline(cls, s: RunState, events: list[RecordedEvent]) -> RunDetail:
        view = RunView.of(s)
        return cls(
            **dict(view),
            timeline=[TimelineEntry.of(e) for e in events],
            run=view,
        )


class RunList(Schema):
    runs: list[RunView]
    next_cursor: str | None


class RunQuery(Schema):
    status: RunStatus | None = None
    workflow: str | None = Field(default=None, max_length=63)
    requester: str | None = Field(default=None, max_length=320)
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)


class CancelRequest(Schema):
    reason: str = Field(default="", max_length=2000)
    actor: str | None = Field(
        default=None, max_length=320, description="Who cancels; defaults to `api:<key id>`."
    )


class DecisionRequest(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"step_id": "manager", "actor": "U0BOB", "decision": "approve"}]
        },
    )

    step_id: str = Field(min_length=1, max_length=63)
    actor: str = Field(
        min_length=1,
        max_length=320,
        description="The approver deciding (Slack user id or `email:addr`); checked like in Slack.",
    )
    decision: Decision
    fields: dict[str, Any] = Field(default_factory=dict)


class InputRequest(Schema):
    actor: str = Field(min_length=1, max_length=320)
    values: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- completion webhooks


class WebhookPayload(Schema):
    """POSTed to a run's `callback_url` when it finishes (completed, rejected, failed,
    cancelled, compensation_failed)."""

    event: Literal["run.finished"] = "run.finished"
    tenant_id: str
    run_id: str
    workflow: str
    version: int
    status: RunStatus
    reason: str
    outputs: dict[str, dict[str, Any]] = Field(description="Each finished step's output.")
    finished_at: datetime | None

    @classmethod
    def of(cls, s: RunState) -> WebhookPayload:
        return cls(
            tenant_id=s.tenant_id,
            run_id=s.run_id,
            workflow=s.workflow,
            version=s.version,
            status=s.status,
            reason=s.reason,
            outputs={k: v.output for k, v in s.steps.items() if v.outcome is not None},
            finished_at=s.finished_at,
        )
