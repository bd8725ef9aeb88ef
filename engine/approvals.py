"""The built-in approval workflow behind `POST /api/v1/approvals` (approvals asked for by
programs, e.g. AI agents before a tool call), and how one of its runs reads as an approval.

An approval request is an ordinary run of the workflow `countersign-approval`, so cards, email,
reminders, escalation, delegation and the audit trail all apply. Who is asked and what is shown
come from the run's inputs (templates); the shape of the step (policy, timeout and default
decision, decision form) is written into the definition itself, which `approval_definition`
renders. Applying it creates a new version only when the shape differs from the latest, and a
request starts on the version it applied (`Engine.start_run(version=...)`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine.durations import Duration
from engine.state import RunState

APPROVAL_WORKFLOW = "countersign-approval"
APPROVAL_STEP = "approval"
COMMENT_FIELD = "comment"
ARGUMENTS_FIELD = "arguments"  # decision form: the edited arguments (canonical JSON)
GRANT_FIELD = "grant_hours"  # decision form: approve and allow repeats for this many hours

ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "cancelled"]
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = (
    "pending",
    "approved",
    "rejected",
    "expired",
    "cancelled",
)
# Which run statuses an approval status can come from (for listing by status).
RUN_STATUSES: dict[ApprovalStatus, tuple[str, ...]] = {
    "pending": ("running", "compensating"),
    "approved": ("completed",),
    "rejected": ("rejected",),
    "expired": ("completed", "rejected"),
    "cancelled": ("cancelled", "failed", "compensation_failed"),
}

MESSAGE = (
    "*{{ inputs.title }}*\n{{ inputs.summary }}\n\n"
    "Details (SHA-256 {{ inputs.digest[:16] }}…):\n```{{ inputs.details }}```"
)


def approval_definition(
    *,
    policy: str | dict[str, int],
    timeout: Duration | None,
    default_decision: Literal["approve", "reject"],
    fields: list[dict[str, Any]],
    remind_every: Duration | None = None,
    editable: bool = False,
    grant_hours: int | None = None,
    escalate: bool = False,
) -> str:
    """The built-in workflow's source (JSON) for one request shape. A `comment` field is always
    on the decision form (unless `fields` brings its own). With `editable`, the form records
    the approver's edited arguments; with `grant_hours`, a standing grant of at most that
    many hours (both drawn by the agent views: `engine.agent_requests`). With `escalate` (and
    a `timeout`), the timeout hands the request to the input `escalate_to` instead of deciding
    by default; when they too let it time out, the request fails."""
    form = list(fields)
    if all(f.get("id") != COMMENT_FIELD for f in form):
        form.insert(0, {"id": COMMENT_FIELD, "type": "multiline", "label": "Comment"})
    if editable:
        form.append(
            {
                "id": ARGUMENTS_FIELD,
                "type": "multiline",
                "label": "Edited arguments (JSON)",
                "max_length": 3000,
            }
        )
    if grant_hours is not None:
        form.append(
            {
                "id": GRANT_FIELD,
                "type": "number",
                "label": "Also allow repeats for hours",
                "min": 1,
                "max": grant_hours,
            }
        )
    step: dict[str, Any] = {
        "id": APPROVAL_STEP,
        "type": "approval",
        "title": "Approval",
        "approvers": ["{{ inputs.approvers }}"],
        "policy": policy,
        "message": MESSAGE,
        "fields": form,
    }
    if timeout is not None:
        step["timeout"] = str(timeout)
        step["on_timeout"] = default_decision
        if escalate:
            step["on_timeout"] = "escalate"
            step["escalate_to"] = ["{{ inputs.escalate_to }}"]
    if remind_every is not None:
        step["remind_every"] = str(remind_every)
    definition = {
        "name": APPROVAL_WORKFLOW,
        "title": "Approval request",
        "description": "Built in: approvals requested through the API (POST /api/v1/approvals) "
        "and Slack's Workflow Builder (the step Get approval).",
        "inputs": [
            {"id": "title", "type": "text", "required": True, "max_length": 200},
            {"id": "summary", "type": "multiline"},
            {"id": "details", "type": "multiline", "hint": "canonical JSON"},
            {"id": "digest", "type": "text", "required": True},
            {"id": "approvers", "type": "text", "required": True},
            {"id": "editable", "type": "text", "hint": "argument names, comma-separated"},
            {"id": "agent", "type": "text", "hint": "the asking API key's name"},
            {"id": "grant", "type": "multiline", "hint": "standing grant offer (JSON)"},
            {"id": "escalate_to", "type": "text", "hint": "approvers, comma-separated"},
        ],
        "steps": [step],
    }
    return json.dumps(definition, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class ApprovalOutcome:
    """A run of the built-in workflow as an approval: `decision` is what applies (on `expired`
    the default decision), `decided_by` the people who decided (empty when the system did)."""

    status: ApprovalStatus
    decision: Literal["approve", "reject"] | None
    decided_by: list[str]
    decided_at: datetime | None
    comment: str | None
    fields: dict[str, Any]
    reason: str


def outcome_of(run: RunState) -> ApprovalOutcome:
    step = run.steps.get(APPROVAL_STEP)
    if run.status in RUN_STATUSES["cancelled"] or step is None:
        reason = run.reason or (step.error if step is not None else None) or run.status
        return ApprovalOutcome("cancelled", None, [], run.finished_at, None, {}, reason)
    if step.outcome not in ("approved", "rejected"):
        return ApprovalOutcome("pending", None, [], None, None, {}, "")
    decision: Literal["approve", "reject"] = "approve" if step.outcome == "approved" else "reject"
    counted = [v for v in step.votes if v.decision == decision and v.counts(step.approvers)]
    expired = any(v.by_system for v in counted)
    fields: dict[str, Any] = dict(step.output.get("fields") or {})
    comment = fields.pop(COMMENT_FIELD, None)
    status: ApprovalStatus = (
        "expired" if expired else ("approved" if decision == "approve" else "rejected")
    )
    return ApprovalOutcome(
        status="expired" if expired else status,
        decision=decision,
        decided_by=[] if expired else [v.actor for v in counted],
        decided_at=step.finished_at,
        comment=comment,
        fields=fields,
        reason=str(step.output.get("reason") or ""),
    )


def split_list(text: str | None) -> list[str]:
    """A comma-separated input (approvers, editable names) as a list."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]
