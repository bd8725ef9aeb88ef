"""What the three framework adapters share: ask Countersign about one tool call and turn the
answer into a verdict the framework understands (run it, with which arguments, or refuse it and
tell the model why).

The request's `details` are `{"tool": name, "arguments": arguments}`, so the approval's digest
binds the exact arguments: other arguments are another request. The tool-call id (with an
optional `key_prefix`) is the idempotency key, so an agent that restarts and asks again about
the same call gets the same request and, once decided, the same answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from countersign_client.client import ApprovalClient, Policy, Timeout
from countersign_client.digest import digest
from countersign_client.models import Approval, ConflictError

Title = Callable[[str, dict[str, Any]], str]


def default_title(tool: str, arguments: dict[str, Any]) -> str:
    return f"Run {tool}"


def tool_details(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The `details` of the approval request for one tool call."""
    return {"tool": tool, "arguments": arguments}


@dataclass(frozen=True)
class Verdict:
    """The answer for one tool call. `run`: run the tool with `arguments` (the approver's edited
    ones if they changed them). Not `run` and not `pending`: refuse it; `reason` is for the model.
    `pending`: nobody decided within the gate's `max_wait`; ask again later with the same call
    id."""

    run: bool
    arguments: dict[str, Any]
    reason: str
    approval: Approval | None = None
    pending: bool = False

    @property
    def edited(self) -> bool:
        return self.approval is not None and self.approval.arguments is not None


def import_error(framework: str, extra: str, exc: ImportError) -> ImportError:
    """The error an adapter raises when its framework is not installed."""
    return ImportError(
        f"countersign_client.adapters needs {framework} for this adapter: "
        f"pip install 'countersign[{extra}]' ({exc})"
    )


@dataclass
class ToolGate:
    """Asks `approvers` about tool calls through `client` and waits for the answer.

    `timeout`/`default_decision`: the request's own deadline on the server and what applies
    then (the request reports `expired`; the tool runs only when that default is `approve`).
    `max_wait` (seconds) bounds the wait in this process: past it the verdict is `pending`.
    `editable`: argument names the approver may change. `key_prefix` scopes the tool-call ids
    when they are not unique across conversations (some test models number them)."""

    client: ApprovalClient
    approvers: Sequence[str]
    title: Title = default_title
    policy: Policy = "any"
    timeout: Timeout = None
    default_decision: Literal["approve", "reject"] = "reject"
    editable: Sequence[str] = ()
    max_wait: float | None = None
    key_prefix: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # more request_approval options

    async def ask(self, tool: str, arguments: dict[str, Any], call_id: str) -> Verdict:
        details = tool_details(tool, arguments)
        try:
            answer = await self.client.approve(
                self.title(tool, arguments),
                approvers=self.approvers,
                details=details,
                policy=self.policy,
                timeout=self.timeout,
                default_decision=self.default_decision,
                editable=self.editable,
                idempotency_key=self.key_prefix + call_id,
                max_wait=self.max_wait,
                **self.options,
            )
        except ConflictError as exc:
            # The call id was asked about with other arguments: never run these on that answer.
            return Verdict(False, arguments, f"Not approved: {exc}")
        return verdict(answer, details)

    async def ask_many(self, calls: Sequence[tuple[str, dict[str, Any], str]]) -> list[Verdict]:
        """Several calls at once (one request each, waited on together)."""
        return list(await asyncio.gather(*(self.ask(*call) for call in calls)))


def verdict(answer: Approval, details: dict[str, Any]) -> Verdict:
    """Map an approval to a verdict about the call whose request carried `details`."""
    arguments: dict[str, Any] = details["arguments"]
    if answer.status == "pending":
        return Verdict(False, arguments, "Waiting for approval.", answer, pending=True)
    if answer.digest != digest(details):  # an answer about other arguments is no answer
        return Verdict(False, arguments, "Not approved: the approval is for other arguments.")
    who = ", ".join(answer.decided_by) or "the approver"
    note = f": {answer.comment}" if answer.comment else "."
    if answer.status == "approved":
        edited = answer.arguments
        if edited is not None:  # the approver changed `editable` arguments
            if digest({**details, "arguments": edited}) != answer.approved_digest:
                return Verdict(False, arguments, "Not approved: the edited arguments don't check.")
            return Verdict(True, dict(edited), f"Approved by {who}{note}", answer)
        return Verdict(True, arguments, f"Approved by {who}{note}", answer)
    if answer.status == "rejected":
        return Verdict(False, arguments, f"Rejected by {who}{note}", answer)
    if answer.status == "expired":
        if answer.decision == "approve":  # the default the agent itself asked for
            return Verdict(True, arguments, f"Approved by default: {answer.reason}", answer)
        return Verdict(False, arguments, f"Not approved in time: {answer.reason}", answer)
    reason = f": {answer.reason}" if answer.reason else "."
    return Verdict(False, arguments, f"The approval request was cancelled{reason}", answer)
