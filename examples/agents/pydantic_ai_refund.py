"""A Pydantic AI agent whose `refund` tool (`requires_approval=True`) runs only once a person
approves it in Countersign; the approval is resolved inline by a `HandleDeferredToolCalls`
capability.

    countersign apikeys create agent        # prints the key
    export COUNTERSIGN_URL=http://localhost:8080 COUNTERSIGN_API_KEY=... APPROVERS=U0YOURID
    pip install 'countersign[pydantic-ai]'
    python examples/agents/pydantic_ai_refund.py

With AGENT_MODEL set (e.g. `openai:gpt-5.2`, with that provider's key), a real model decides to
call the tool; without, Pydantic AI's offline FunctionModel calls it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from pydantic_ai import Agent, ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from countersign_client import ApprovalClient
from countersign_client.adapters.pydantic_ai import CountersignApprovals


def offline_model(call_id: str) -> Model:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        done = [p for p in getattr(last, "parts", []) if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and done:
            return ModelResponse(parts=[TextPart(str(done[0].content))])
        return ModelResponse(
            parts=[ToolCallPart("refund", {"order": 1234, "amount": 80.5}, call_id)]
        )

    return FunctionModel(respond)


async def main(url: str, api_key: str, approvers: list[str], call_id: str = "") -> Any:
    model: str | Model = os.environ.get("AGENT_MODEL") or offline_model(
        call_id or f"call_{uuid.uuid4().hex[:12]}"
    )
    async with ApprovalClient(url, api_key) as client:
        approvals = CountersignApprovals(client, approvers, timeout="30m")
        agent = Agent(model, capabilities=[approvals.capability()])

        @agent.tool_plain(requires_approval=True)
        def refund(order: int, amount: float) -> str:
            """Refund `amount` on an order."""
            return f"Refunded {amount} on order {order}"

        result = await agent.run("Refund 80.50 on order 1234.")
    return result.output


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
