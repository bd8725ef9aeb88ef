"""An approval request as an agent asked for it: the tool, its arguments, the digest and the
API key that asked, read from a run of the built-in approval workflow; and the rules for an
approver's edit of the `editable` arguments (pure: the decider and every channel use these).

An agent's `details` are `{"tool": name, "arguments": {...}}` (other keys are kept and shown
as they are). Edited arguments are recorded as the decision form's `arguments` value (canonical
JSON of the whole edited arguments object), so the edit is in the audit trail with the vote.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from engine.approvals import APPROVAL_WORKFLOW, ARGUMENTS_FIELD, GRANT_FIELD, split_list
from engine.errors import InvalidInput
from engine.state import RunState

AGENT_FIELDS = (ARGUMENTS_FIELD, GRANT_FIELD)  # drawn by the agent views, not as plain fields


def canonical(value: Any) -> str:
    """`value` as RFC 8785 canonical JSON (what digests are taken over)."""
    try:
        return rfc8785.dumps(value).decode()
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"cannot be canonicalised: {exc}") from exc


def digest_of(details: Any) -> str:
    """SHA-256 (hex) of `details` as canonical JSON; the same as `countersign_client.digest`."""
    return hashlib.sha256(canonical(details).encode()).hexdigest()


def short_digest(digest: str) -> str:
    return digest[:12]


@dataclass(frozen=True)
class AgentRequest:
    """What an approvals-API run asks: `tool` is empty when the details name none."""

    details: dict[str, Any]
    digest: str
    agent: str  # the API key's name ("" for the CLI's MCP server)
    requester: str
    editable: tuple[str, ...]
    grant_offer: dict[str, Any] | None  # {"max_hours": n, "pattern": {...} | None}
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        """The arguments, indented for people to read."""
        return json.dumps(self.arguments, indent=2, ensure_ascii=False, sort_keys=True)


def agent_request(run: RunState) -> AgentRequest | None:
    """The agent's request behind `run`, or None for a run of another workflow or one a Slack
    Workflow Builder step started (the same built-in workflow, asked by a person)."""
    if run.workflow != APPROVAL_WORKFLOW or run.slack_step:
        return None
    inputs = run.inputs
    try:
        details = json.loads(inputs.get("details") or "{}")
    except ValueError:
        details = {}
    if not isinstance(details, dict):
        details = {}
    try:
        offer = json.loads(inputs.get("grant") or "null")
    except ValueError:
        offer = None
    tool = details.get("tool")
    arguments = details.get("arguments")
    return AgentRequest(
        details=details,
        digest=str(inputs.get("digest") or ""),
        agent=str(inputs.get("agent") or ""),
        requester=run.requester,
        editable=tuple(split_list(inputs.get("editable"))),
        grant_offer=offer if isinstance(offer, dict) else None,
        tool=tool if isinstance(tool, str) else "",
        arguments=arguments if isinstance(arguments, dict) else {},
    )


def parse_edits(request: AgentRequest, texts: Mapping[str, str]) -> dict[str, Any]:
    """The whole edited arguments object from one JSON text per editable argument (a form's
    fields). Raises InvalidInput keyed by argument name: each text must be JSON, and only
    `editable` names may be given."""
    errors: dict[str, str] = {}
    edited = dict(request.arguments)
    for name, text in texts.items():
        if name not in request.editable:
            errors[name] = "this argument is not editable"
            continue
        try:
            edited[name] = json.loads(text)
        except json.JSONDecodeError as exc:
            errors[name] = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if errors:
        raise InvalidInput(errors)
    return edited


def check_edit(request: AgentRequest, text: Any) -> dict[str, Any] | None:
    """The edited arguments recorded by a decision (its `arguments` value), checked: a JSON
    object that differs from the requested arguments in `editable` names only. None when
    nothing was edited. Raises InvalidInput on the `arguments` field."""
    if text in (None, ""):
        return None
    if not request.editable:
        raise InvalidInput({ARGUMENTS_FIELD: "this request has no editable arguments"})
    try:
        edited = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        edited = None
    if not isinstance(edited, dict):
        raise InvalidInput({ARGUMENTS_FIELD: "must be a JSON object of the tool's arguments"})
    names = set(edited) | set(request.arguments)
    changed = sorted(
        n for n in names if edited.get(n, _MISSING) != request.arguments.get(n, _MISSING)
    )
    fixed = [n for n in changed if n not in request.editable]
    if fixed:
        raise InvalidInput({ARGUMENTS_FIELD: f"not editable: {', '.join(fixed)}"})
    return edited if changed else None


_MISSING = object()


def approved_details(request: AgentRequest, edited: dict[str, Any] | None) -> dict[str, Any]:
    """The details as approved: the requested ones with the edited arguments, if any."""
    if edited is None:
        return request.details
    return {**request.details, "arguments": edited}
