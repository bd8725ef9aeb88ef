"""Request and response models of the approvals API (`web.api.approvals`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, ConfigDict, Field, model_validator

from engine import (
    AGENT_FIELDS,
    APPROVAL_STEP,
    ARGUMENTS_FIELD,
    MAX_GRANT_HOURS,
    AgentRequest,
    ApprovalStatus,
    Duration,
    EngineError,
    FormField,
    NOf,
    RunState,
    StepState,
    agent_request,
    approved_details,
    check_edit,
    digest_of,
    granted_by,
    outcome_of,
    pattern_problems,
    split_list,
)
from web.api.schemas import Schema

ArgName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^,\s]+$")]
Principal = Annotated[str, Field(min_length=1, max_length=320, pattern=r"^[^,\s]+$")]


class GrantOffer(Schema):
    model_config = ConfigDict(extra="forbid")

    allow: bool = True
    max_hours: int = Field(default=8, ge=1, le=MAX_GRANT_HOURS)
    pattern: dict[str, Any] | None = Field(
        default=None,
        description='Per argument: a literal, or a rule `{"any": true}`, `{"prefix": '
        '"s"}`, `{"glob": "*.csv"}`, `{"one_of": [...]}`, `{"min": n, '
        '"max": n}`; arguments it does not name must equal the granted ones.',
    )

    @model_validator(mode="after")
    def _pattern_rules(self) -> GrantOffer:
        if self.pattern is not None:
            problems = pattern_problems(self.pattern)
            if problems:
                raise ValueError("; ".join(f"{k}: {v}" for k, v in problems.items()))
        return self


class GrantedBy(Schema):
    grant_id: str = Field(description="The standing grant's id: the approval that granted it.")
    approval_id: str


class CreateApproval(Schema):
    """An approval request, e.g. from an AI agent before it runs a tool call."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Refund order 1234",
                    "summary": "The customer asked for a refund of a damaged item.",
                    "details": {"tool": "refund", "arguments": {"order": 1234, "amount": 80}},
                    "approvers": ["U0BOB"],
                    "timeout": "30m",
                    "default_decision": "reject",
                    "idempotency_key": "call_abc123",
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(default="", max_length=4000)
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="What is to be approved, e.g. a tool name and its arguments. The approval "
        "holds for exactly these details: see `digest`.",
    )
    approvers: list[Principal] = Field(
        min_length=1,
        max_length=50,
        description="Slack user ids (U…), user groups (S…), channels (#name, C…) or email "
        "addresses (`email:ana@example.com` or bare).",
    )
    policy: Literal["any", "all", "majority"] | NOf = "any"
    timeout: Duration | None = Field(
        default=None, description="How long to wait, e.g. `30m`; none waits until decided."
    )
    default_decision: Literal["approve", "reject"] = Field(
        default="reject",
        description="Applied when the timeout passes; the request then reports `expired`.",
    )
    remind_every: Duration | None = Field(
        default=None,
        description="Remind approvers who have not decided this often (in their working "
        "hours; at most 3 times), e.g. `4h`. Must be shorter than `timeout`.",
    )
    fields: list[FormField] = Field(
        default_factory=list,
        max_length=20,
        description="The approver's decision form (a `comment` field is always there).",
    )
    editable: list[ArgName] = Field(
        default_factory=list,
        max_length=50,
        description="Names in `details.arguments` an approver may edit before approving "
        "(a Slack modal or the web form); the answer then carries `arguments` and both digests.",
    )
    grant: GrantOffer | None = Field(
        default=None,
        description="Opt in to standing grants: the approver may approve and allow the same "
        "tool from the same API key, with the same arguments (or matching `pattern`), for up "
        "to `max_hours`; such later requests are approved at once by `system`.",
    )
    callback_url: AnyHttpUrl | None = Field(
        default=None, description="Receives a signed `approval.decided` webhook."
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="E.g. the agent's tool-call id: the same key returns the same request; "
        "the same key with other details is refused (409). The `Idempotency-Key` header "
        "does the same.",
    )

    @model_validator(mode="after")
    def _editable_and_grant_need_a_tool(self) -> CreateApproval:
        arguments = self.details.get("arguments")
        if self.editable and not isinstance(arguments, dict):
            raise ValueError("editable needs details.arguments (an object)")
        missing = [n for n in self.editable if isinstance(arguments, dict) and n not in arguments]
        if missing:
            raise ValueError(f"editable names no argument in details.arguments: {missing}")
        if (
            self.grant is not None
            and self.grant.allow
            and not isinstance(self.details.get("tool"), str)
        ):
            raise ValueError("grant needs details.tool (the tool's name)")
        return self

    @model_validator(mode="after")
    def _reminders_before_timeout(self) -> CreateApproval:
        every, timeout = self.remind_every, self.timeout
        if every is not None and timeout is not None and every.seconds >= timeout.seconds:
            raise ValueError("remind_every must be shorter than timeout")
        return self


class ApprovalView(Schema):
    id: str = Field(description="The approval's id (also the id of the run behind it).")
    status: ApprovalStatus = Field(
        description="`expired`: the timeout passed and `decision` is the default that applied."
    )
    title: str
    summary: str
    details: dict[str, Any]
    digest: str = Field(
        description="SHA-256 (hex) of `details` as canonical JSON (RFC 8785): the approval "
        "is valid for these details only."
    )
    approvers: list[str] = Field(description="Who was asked (as requested).")
    editable: list[str]
    agent: str = Field(description="The name of the API key that asked.")
    arguments: dict[str, Any] | None = Field(
        description="The arguments as approved when an approver edited them; else null."
    )
    requested_digest: str = Field(description="The digest of `details` as requested.")
    approved_digest: str | None = Field(
        description="The digest of the details as approved (with the edited arguments): act "
        "only on details with this digest. Null unless approved."
    )
    granted_by: GrantedBy | None = Field(
        description="Set when a standing grant approved this request at once."
    )
    decision: Literal["approve", "reject"] | None = Field(
        description="What applies: the people's decision, or the default on `expired`."
    )
    decided_by: list[str] = Field(description="Who decided (empty when the system did).")
    decided_at: datetime | None
    comment: str | None
    fields: dict[str, Any] = Field(description="The decision form's other values.")
    reason: str = Field(description="Why, when the system decided or the request ended.")
    created_at: datetime
    expires_at: datetime | None
    callback_url: str | None

    @classmethod
    def of(cls, run: RunState) -> ApprovalView:
        out = outcome_of(run)
        step = run.steps.get(APPROVAL_STEP)
        inputs = run.inputs
        try:
            details = json.loads(inputs.get("details") or "{}")
        except ValueError:
            details = {}
        request = agent_request(run)
        edited = _edited(request, step) if out.status == "approved" else None
        digest = str(inputs.get("digest") or "")
        approved = None
        if out.status == "approved" and request is not None:
            approved = digest_of(approved_details(request, edited)) if edited else digest
        grant_id = granted_by(run)
        fields = {k: v for k, v in out.fields.items() if k not in AGENT_FIELDS}
        return cls(
            id=run.run_id,
            status=out.status,
            title=str(inputs.get("title") or ""),
            summary=str(inputs.get("summary") or ""),
            details=details if isinstance(details, dict) else {},
            digest=digest,
            approvers=split_list(inputs.get("approvers")),
            editable=split_list(inputs.get("editable")),
            agent=str(inputs.get("agent") or ""),
            arguments=edited,
            requested_digest=digest,
            approved_digest=approved,
            granted_by=GrantedBy(grant_id=grant_id, approval_id=grant_id) if grant_id else None,
            decision=out.decision,
            decided_by=out.decided_by,
            decided_at=out.decided_at,
            comment=out.comment,
            fields=fields,
            reason=out.reason,
            created_at=run.started_at,
            expires_at=step.times_out_at if step is not None and out.status == "pending" else None,
            callback_url=run.callback_url,
        )


def _edited(request: AgentRequest | None, step: StepState | None) -> dict[str, Any] | None:
    """The edited arguments the deciding approval vote carries (the decider checked them)."""
    if request is None or step is None:
        return None
    for vote in step.votes:
        if vote.decision == "approve" and vote.fields.get(ARGUMENTS_FIELD):
            try:
                return check_edit(request, vote.fields[ARGUMENTS_FIELD])
            except EngineError:
                return None
    return None


class ApprovalList(Schema):
    approvals: list[ApprovalView]
    next_cursor: str | None


class ApprovalListQuery(Schema):
    status: ApprovalStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)


class ApprovalQuery(Schema):
    wait: Duration | None = Field(
        default=None,
        description="Long-poll: answer as soon as the request is decided, or after this long "
        "(at most 60s) with it still pending, e.g. `30s`.",
    )


class CancelApproval(Schema):
    reason: str = Field(default="", max_length=2000)


class ApprovalWebhook(Schema):
    """POSTed (signed like the completion webhook) to an approval's `callback_url` once it is
    decided, expired or cancelled."""

    event: Literal["approval.decided"] = "approval.decided"
    tenant_id: str
    approval: ApprovalView
