"""Pydantic AI: deferred tool calls that need approval (`requires_approval=True`, or a tool that
raises `ApprovalRequired`) are approved or denied by people in Countersign.

    from pydantic_ai import Agent
    from countersign_client import ApprovalClient
    from countersign_client.adapters.pydantic_ai import CountersignApprovals

    async with ApprovalClient(url, api_key) as client:
        approvals = CountersignApprovals(
            client, approvers=["U0BOB"], timeout="30m", editable=["amount"]
        )
        agent = Agent(model, capabilities=[approvals.capability()])

        @agent.tool_plain(requires_approval=True)
        def refund(order: int, amount: float) -> str: ...

The capability resolves the calls inline and the run goes on in the same `agent.run(...)`. For
the stop-the-world flow (`output_type=[str, DeferredToolRequests]`), pass the run's
`DeferredToolRequests` to `await approvals.results(requests)` and give what it returns to the
next run as `deferred_tool_results`.

Approved -> `ToolApproved` (with `override_args` when the approver edited arguments); rejected,
expired or cancelled -> `ToolDenied` with the reason. A call still undecided after `max_wait` is
left out, so it bubbles up as `DeferredToolRequests` output (when the agent allows it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from countersign_client.adapters.gate import ToolGate, import_error
from countersign_client.client import ApprovalClient

try:
    from pydantic_ai import (
        DeferredToolRequests,
        DeferredToolResults,
        RunContext,
        ToolApproved,
        ToolDenied,
    )
    from pydantic_ai.capabilities import HandleDeferredToolCalls
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise import_error("Pydantic AI", "pydantic-ai", exc) from exc


class CountersignApprovals:
    """Resolves deferred tool approvals through Countersign. `gate_options` are `ToolGate`'s
    (`timeout`, `default_decision`, `policy`, `editable`, `max_wait`, `title`, `key_prefix`)."""

    def __init__(
        self, client: ApprovalClient, approvers: Sequence[str], **gate_options: Any
    ) -> None:
        self.gate = ToolGate(client, approvers, **gate_options)

    def capability(self) -> HandleDeferredToolCalls[Any]:
        """A capability for `Agent(capabilities=[...])` that resolves approvals inline."""
        return HandleDeferredToolCalls(handler=self.handle)

    async def handle(
        self, ctx: RunContext[Any], requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        """The `HandleDeferredToolCalls` handler; external calls are left to other handlers."""
        results = await self.results(requests)
        return results if results.approvals else None

    async def results(self, requests: DeferredToolRequests) -> DeferredToolResults:
        """The decided approvals among `requests.approvals`."""
        calls = [(c.tool_name, c.args_as_dict(), c.tool_call_id) for c in requests.approvals]
        verdicts = await self.gate.ask_many(calls)
        approvals: dict[str, bool | ToolApproved | ToolDenied] = {}
        for (_, _, call_id), found in zip(calls, verdicts, strict=True):
            if found.pending:
                continue
            if not found.run:
                approvals[call_id] = ToolDenied(found.reason)
            else:
                approvals[call_id] = ToolApproved(
                    override_args=found.arguments if found.edited else None
                )
        return requests.build_results(approvals=approvals)
