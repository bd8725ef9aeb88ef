"""Request and response models of the human-task operations: the SLA view, delegation,
questions and answers, comments, out-of-office."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, ConfigDict, Field

from engine import TaskSla
from web.api.schemas import Schema

PRINCIPAL = "A Slack user id (`U…`) or an email person (`email:addr`)."


class TaskQuery(Schema):
    approver: str | None = Field(
        default=None, min_length=1, max_length=320, description="Only this person's tasks."
    )
    limit: int = Field(default=100, ge=1, le=500)


class TaskView(Schema):
    run_id: str
    workflow: str
    version: int
    step_id: str
    step_title: str = Field(description="The step's `title`, rendered like its message.")
    summary: str = Field(
        description="What the run is about: the workflow's `summary:` rendered when the run "
        "started, or its first required inputs by their labels."
    )
    kind: str = Field(description="`approval` or `input`.")
    approvers: list[str] = Field(description="Who can still act on it.")
    requester: str
    waiting_since: datetime
    waited_seconds: int = Field(description="How long it has waited, at `now` of the list.")
    escalation_level: int
    next_reminder_at: datetime | None
    escalates_at: datetime | None
    times_out_at: datetime | None
    paused: bool = Field(description="Reminders and timeout are paused by an open question.")
    open_question: str | None

    @classmethod
    def of(cls, t: TaskSla, now: datetime) -> TaskView:
        return cls(
            run_id=t.run_id,
            workflow=t.workflow,
            version=t.version,
            step_id=t.step_id,
            step_title=t.step_title,
            summary=t.summary,
            kind=t.kind,
            approvers=list(t.approvers),
            requester=t.requester,
            waiting_since=t.waiting_since,
            waited_seconds=max(0, int((now - t.waiting_since).total_seconds())),
            escalation_level=t.escalation_level,
            next_reminder_at=t.next_reminder_at,
            escalates_at=t.escalates_at,
            times_out_at=t.times_out_at,
            paused=t.paused,
            open_question=t.open_question,
        )


class TaskList(Schema):
    now: datetime
    tasks: list[TaskView] = Field(description="Longest waiting first.")


class DelegateRequest(Schema):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"actor": "U0BOB", "to": "U0CAROL", "reason": "Carol owns this budget"}]
        },
    )

    to: str = Field(min_length=1, max_length=320, description=f"The new approver. {PRINCIPAL}")
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        description="The approver handing their part over (required unless `reassign`).",
    )
    reason: str = Field(default="", max_length=2000)
    reassign: bool = Field(
        default=False,
        description="An admin reassignment: the API key acts as the tenant's operator.",
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        min_length=1,
        max_length=320,
        description="With `reassign`: whose part moves (default: the single current approver).",
    )


class AskRequest(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"actor": "U0BOB", "text": "Which cost centre?"}]},
    )

    actor: str = Field(min_length=1, max_length=320, description="The approver asking.")
    text: str = Field(min_length=1, max_length=4000)


class AnswerRequest(Schema):
    actor: str = Field(min_length=1, max_length=320, description="The requester answering.")
    text: str = Field(min_length=1, max_length=4000)


class CommentRequest(Schema):
    actor: str = Field(min_length=1, max_length=320)
    text: str = Field(min_length=1, max_length=4000)
    step_id: str | None = Field(default=None, min_length=1, max_length=63)


class CommentView(Schema):
    run_id: str
    step_id: str | None
    actor: str
    text: str
    channel: str
    at: datetime


class AwayRequest(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"delegate": "U0CAROL", "until": "2026-12-31T18:00:00+01:00"}]
        },
    )

    delegate: str = Field(min_length=1, max_length=320, description=PRINCIPAL)
    until: AwareDatetime = Field(description="End of the absence (with a time zone).")
    starts: AwareDatetime | None = Field(default=None, description="Default: now.")


class AwayStatus(Schema):
    user: str
    away: bool = Field(description="Whether an out-of-office window is set (now or later).")
    delegate: str | None = None
    starts: datetime | None = None
    until: datetime | None = None
