"""Pydantic AI with its offline `FunctionModel`: tools with `requires_approval=True` run only when
an approver says yes in Countersign (the real web app and engine); a no, an expired request and
other arguments reach the model as the framework's denial."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_ai import (
    Agent,
    DeferredToolRequests,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from countersign_client import digest
from countersign_client.adapters import tool_details
from countersign_client.adapters.pydantic_ai import CountersignApprovals
from tests.client.adapters.conftest import APPROVER, Countersign


def scripted(*calls: tuple[str, dict[str, Any], str]) -> FunctionModel:
    """A model that makes `calls` (tool, arguments, call id), then answers with what the tools
    returned (or the denial messages), one line each."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        returned = [
            f"{p.tool_name}: {p.content}"
            for p in (last.parts if isinstance(last, ModelRequest) else [])
            if isinstance(p, ToolReturnPart)
        ]
        if returned:
            return ModelResponse(parts=[TextPart("\n".join(returned))])
        return ModelResponse(parts=[ToolCallPart(t, a, c) for t, a, c in calls])

    return FunctionModel(respond)


def refund_agent(model: FunctionModel, approvals: CountersignApprovals, ran: list[Any]) -> Agent:
    agent = Agent(model, capabilities=[approvals.capability()])

    @agent.tool_plain(requires_approval=True)
    def refund(order: int, amount: float) -> str:
        ran.append((order, amount))
        return f"refunded {amount} on order {order}"

    return agent


async def test_an_approved_call_runs_and_its_approval_binds_the_arguments(
    countersign: Countersign,
) -> None:
    arguments = {"order": 1234, "amount": 80.5}
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER])
    agent = refund_agent(scripted(("refund", arguments, "call_1")), approvals, ran)
    run = asyncio.create_task(agent.run("Refund order 1234"))

    request = await countersign.request_for("refund", arguments, "call_1")
    assert request.status == "pending" and ran == []
    assert request.details == {"tool": "refund", "arguments": arguments}
    assert request.digest == digest(tool_details("refund", arguments))
    await countersign.decide(request.id, "approve")

    result = await run
    assert ran == [(1234, 80.5)]
    assert result.output == "refund: refunded 80.5 on order 1234"
    assert [r.id for r in await countersign.requests()] == [request.id]  # asked once


async def test_a_rejection_is_denied_with_the_approvers_reason(countersign: Countersign) -> None:
    arguments = {"order": 1234, "amount": 5000.0}
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER])
    agent = refund_agent(scripted(("refund", arguments, "call_2")), approvals, ran)
    run = asyncio.create_task(agent.run("Refund order 1234"))

    request = await countersign.request_for("refund", arguments, "call_2")
    await countersign.decide(request.id, "reject", comment="too much, ask finance")

    result = await run
    assert ran == []
    assert result.output == f"refund: Rejected by {APPROVER}: too much, ask finance"


async def test_an_expired_request_is_denied_and_does_not_run(countersign: Countersign) -> None:
    arguments = {"order": 77, "amount": 12.0}
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER], timeout="1h")
    agent = refund_agent(scripted(("refund", arguments, "call_3")), approvals, ran)
    run = asyncio.create_task(agent.run("Refund order 77"))

    request = await countersign.request_for("refund", arguments, "call_3")
    await countersign.expire()

    result = await run
    assert ran == []
    assert result.output.startswith("refund: Not approved in time: ")
    assert "no decision within 1h" in result.output
    assert (await countersign.agent.get(request.id)).status == "expired"


async def test_other_arguments_are_a_new_request_and_never_ride_on_an_old_answer(
    countersign: Countersign,
) -> None:
    first = {"order": 1, "amount": 10.0}
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER])
    agent = refund_agent(scripted(("refund", first, "call_4")), approvals, ran)
    run = asyncio.create_task(agent.run("Refund order 1"))
    approved = await countersign.request_for("refund", first, "call_4")
    await countersign.decide(approved.id, "approve")
    await run

    # The same call id with other arguments (a replayed or altered call) is refused, unasked.
    altered = {"order": 1, "amount": 10000.0}
    replay = refund_agent(scripted(("refund", altered, "call_4")), approvals, ran)
    result = await replay.run("Refund order 1")
    assert result.output.startswith("refund: Not approved: ")

    # Another call with other arguments is a new request, with its own digest, still pending.
    second = {"order": 2, "amount": 10.0}
    approvals_now = CountersignApprovals(countersign.agent, [APPROVER], max_wait=0)
    other = refund_agent(scripted(("refund", second, "call_5")), approvals_now, ran)
    run = asyncio.create_task(other.run("Refund order 2", output_type=[str, DeferredToolRequests]))
    pending = await countersign.request_for("refund", second, "call_5")
    assert pending.id != approved.id and pending.status == "pending"
    assert pending.digest == digest(tool_details("refund", second)) != approved.digest
    assert isinstance((await run).output, DeferredToolRequests)  # undecided: it bubbles up
    assert ran == [(1, 10.0)]
