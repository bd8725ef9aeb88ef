"""The OpenAI Agents SDK with its offline `ScriptedModel`: a `needs_approval` tool's interruption
is resolved by an approver in Countersign (the real web app and engine); a no and an expired
request reach the model as the SDK's rejection with the reason."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from countersign_client import digest
from countersign_client.adapters import tool_details
from countersign_client.adapters.openai_agents import CountersignApprovals
from tests.client.adapters.conftest import APPROVER, Countersign

set_tracing_disabled(True)  # no trace export: the tests have no network


def deploy_agent(model: ScriptedModel, ran: list[Any]) -> Agent[Any]:
    @function_tool(needs_approval=True)
    async def deploy(service: str, version: str) -> str:
        """Deploy a version of a service."""
        ran.append((service, version))
        return f"deployed {service} {version}"

    return Agent(name="ops", instructions="Deploy what you are asked.", model=model, tools=[deploy])


def tool_output(model: ScriptedModel, call_id: str) -> str:
    """What the model was told the call returned (the tool's result or the rejection)."""
    last = model.calls[-1].input
    (out,) = [
        i for i in last if isinstance(i, dict) and i.get("call_id") == call_id and "output" in i
    ]
    return str(out["output"])


async def test_an_approved_call_runs_after_the_interruption_is_resolved(
    countersign: Countersign,
) -> None:
    arguments = {"service": "api", "version": "1.4.2"}
    model = ScriptedModel(
        [[function_call("deploy", arguments, call_id="call_A1")], [assistant_message("done")]]
    )
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER])
    run = asyncio.create_task(approvals.run(deploy_agent(model, ran), "Deploy api 1.4.2"))

    request = await countersign.request_for("deploy", arguments, "call_A1")
    assert request.digest == digest(tool_details("deploy", arguments)) and ran == []
    await countersign.decide(request.id, "approve")

    result = await run
    assert result.final_output == "done" and not result.interruptions
    assert ran == [("api", "1.4.2")]
    assert tool_output(model, "call_A1") == "deployed api 1.4.2"


async def test_a_rejection_reaches_the_model_with_the_reason(countersign: Countersign) -> None:
    arguments = {"service": "db", "version": "9.0"}
    model = ScriptedModel(
        [[function_call("deploy", arguments, call_id="call_A2")], [assistant_message("ok")]]
    )
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER])
    run = asyncio.create_task(approvals.run(deploy_agent(model, ran), "Deploy db 9.0"))

    request = await countersign.request_for("deploy", arguments, "call_A2")
    await countersign.decide(request.id, "reject", comment="not during the freeze")

    await run
    assert ran == []
    assert tool_output(model, "call_A2") == f"Rejected by {APPROVER}: not during the freeze"


async def test_an_expired_request_is_a_rejection(countersign: Countersign) -> None:
    arguments = {"service": "web", "version": "2.0"}
    model = ScriptedModel(
        [[function_call("deploy", arguments, call_id="call_A3")], [assistant_message("ok")]]
    )
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER], timeout="30m")
    run = asyncio.create_task(approvals.run(deploy_agent(model, ran), "Deploy web 2.0"))

    await countersign.request_for("deploy", arguments, "call_A3")
    await countersign.expire()

    await run
    assert ran == []
    assert tool_output(model, "call_A3").startswith("Not approved in time: no decision within")


async def test_an_undecided_call_leaves_the_run_paused_and_resolves_later(
    countersign: Countersign,
) -> None:
    arguments = {"service": "api", "version": "1.5.0"}
    model = ScriptedModel(
        [[function_call("deploy", arguments, call_id="call_A4")], [assistant_message("done")]]
    )
    ran: list[Any] = []
    agent = deploy_agent(model, ran)
    impatient = CountersignApprovals(countersign.agent, [APPROVER], max_wait=0)
    paused = await impatient.run(agent, "Deploy api 1.5.0")
    assert [i.call_id for i in paused.interruptions] == ["call_A4"] and ran == []

    # Later (another process could restore the saved state): the same call id, the same request.
    request = await countersign.request_for("deploy", arguments, "call_A4")
    await countersign.decide(request.id, "approve")
    result = await CountersignApprovals(countersign.agent, [APPROVER]).run(agent, paused.to_state())
    assert result.final_output == "done" and ran == [("api", "1.5.0")]
    assert len(await countersign.requests()) == 1
