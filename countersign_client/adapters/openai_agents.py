"""OpenAI Agents SDK: tools declared with `needs_approval` are approved or rejected by people in
Countersign (Slack, email, the web) instead of by code in the agent's process.

    from agents import Agent, function_tool
    from countersign_client import ApprovalClient
    from countersign_client.adapters.openai_agents import CountersignApprovals

    @function_tool(needs_approval=True)
    async def refund(order: int, amount: float) -> str: ...

    async with ApprovalClient(url, api_key) as client:
        approvals = CountersignApprovals(client, approvers=["U0BOB"], timeout="30m")
        result = await approvals.run(agent, "Refund order 1234")

`run` is `Runner.run` that, whenever the run pauses on `interruptions`, asks Countersign about
each pending tool call (the call id is the idempotency key) and resumes with
`state.approve(...)` / `state.reject(..., rejection_message=reason)`. Use `resolve(result)`
instead to resolve one pause yourself, e.g. after restoring a saved `RunState`.

The SDK cannot run a call with other arguments than the model gave. When an approver edits the
arguments, the call is rejected with a message giving the approved arguments, and a repeat of
the call with exactly those arguments is approved by the same answer, without asking again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from countersign_client.adapters.gate import ToolGate, import_error, tool_details
from countersign_client.client import ApprovalClient
from countersign_client.digest import digest

try:
    from agents import Agent, Runner, RunResult, RunState
    from agents.items import ToolApprovalItem
    from agents.result import RunResultStreaming
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise import_error("the OpenAI Agents SDK", "openai-agents", exc) from exc


class CountersignApprovals:
    """Resolves a run's tool approvals through Countersign. `gate_options` are `ToolGate`'s
    (`timeout`, `default_decision`, `policy`, `editable`, `max_wait`, `title`, `key_prefix`)."""

    def __init__(
        self, client: ApprovalClient, approvers: Sequence[str], **gate_options: Any
    ) -> None:
        self.gate = ToolGate(client, approvers, **gate_options)
        # Digests of details an approver approved by editing a call: the model's one repeat of
        # the call with exactly those arguments is approved by that answer.
        self._edited: set[str] = set()

    async def run(
        self, agent: Agent[Any], input: str | list[Any] | RunState[Any], **run_options: Any
    ) -> RunResult:
        """`Runner.run` until the run finishes or a call is still undecided after `max_wait`
        (then the result has `interruptions`; `resolve` it later)."""
        result = await Runner.run(agent, input, **run_options)
        while result.interruptions:
            state, undecided = await self.resolve(result)
            if undecided:
                return result
            result = await Runner.run(agent, state, **run_options)
        return result

    async def resolve(
        self, paused: RunResult | RunResultStreaming | RunState[Any]
    ) -> tuple[RunState[Any], int]:
        """Decide every pending interruption of `paused` (a result, streamed or not, or a
        restored `RunState`); returns its state (approved and rejected calls marked on it) and
        how many calls are still undecided."""
        state = paused if isinstance(paused, RunState) else paused.to_state()
        asked: list[tuple[ToolApprovalItem, tuple[str, dict[str, Any], str]]] = []
        undecided = 0
        for item in state.get_interruptions():
            if not item.call_id:  # nothing to bind a request to: left to the caller
                undecided += 1
                continue
            call = (str(item.name or "tool"), _arguments(item.arguments), str(item.call_id))
            repeat = digest(tool_details(call[0], call[1]))
            if repeat in self._edited:  # the model repeats the call with the approver's arguments
                self._edited.discard(repeat)  # once
                state.approve(item)
            else:
                asked.append((item, call))
        verdicts = await self.gate.ask_many([call for _, call in asked])
        for (item, (tool, _, _)), found in zip(asked, verdicts, strict=True):
            if found.pending:
                undecided += 1
            elif found.run and not found.edited:
                state.approve(item)
            elif found.run:  # approved with other arguments: the model must call again with them
                self._edited.add(digest(tool_details(tool, found.arguments)))
                shown = json.dumps(found.arguments, ensure_ascii=False)
                message = f"{found.reason} The approver changed the arguments: call {tool} again"
                state.reject(item, rejection_message=f"{message} with exactly {shown}.")
            else:
                state.reject(item, rejection_message=found.reason)
        return state, undecided


def _arguments(raw: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {"_raw": raw}
    return parsed if isinstance(parsed, dict) else {"_value": parsed}
