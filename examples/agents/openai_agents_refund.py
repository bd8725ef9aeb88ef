"""An OpenAI Agents SDK agent whose `refund` tool runs only once a person approves it in
Countersign (Slack, email or the web page).

    countersign apikeys create agent        # prints the key
    export COUNTERSIGN_URL=http://localhost:8080 COUNTERSIGN_API_KEY=... APPROVERS=U0YOURID
    pip install 'countersign[openai-agents]'
    python examples/agents/openai_agents_refund.py

With AGENT_MODEL (and OPENAI_API_KEY) set, a real model decides to call the tool; without, the
SDK's offline ScriptedModel calls it, so the example runs with no model account.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from agents import Agent, Model, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from countersign_client import ApprovalClient
from countersign_client.adapters.openai_agents import CountersignApprovals


@function_tool(needs_approval=True)
async def refund(order: int, amount: float) -> str:
    """Refund `amount` on an order."""
    return f"Refunded {amount} on order {order}"


def offline_model(call_id: str) -> Model:
    call = function_call("refund", {"order": 1234, "amount": 80.5}, call_id=call_id)
    return ScriptedModel([[call], [assistant_message("The refund was handled.")]])


async def main(url: str, api_key: str, approvers: list[str], call_id: str = "") -> Any:
    model: str | Model = os.environ.get("AGENT_MODEL") or offline_model(
        call_id or f"call_{uuid.uuid4().hex[:12]}"
    )
    if isinstance(model, ScriptedModel):
        set_tracing_disabled(True)
    agent = Agent(name="Support", instructions="Refund when asked.", model=model, tools=[refund])
    async with ApprovalClient(url, api_key) as client:
        approvals = CountersignApprovals(client, approvers, timeout="30m")
        result = await approvals.run(agent, "Refund 80.50 on order 1234.")
    return result.final_output


if __name__ == "__main__":
    print(
        asyncio.run(
            main(
                os.environ.get("COUNTERSIGN_URL", "http://localhost:8080"),
                os.environ["COUNTERSIGN_API_KEY"],
                os.environ["APPROVERS"].split(","),
            )
        )
    )
