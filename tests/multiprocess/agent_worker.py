"""An agent process for the agent-restart test: a Pydantic AI agent (offline `FunctionModel`)
whose model calls `deploy` once with a fixed tool-call id; the tool needs approval, resolved
through Countersign. `python -m tests.multiprocess.agent_worker BASE_URL API_KEY CALL_ID`.

It prints `asked ID STATUS` once its request is made (or found again), `ran ARGS` when the tool
runs and `output TEXT` at the end."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pydantic_ai import Agent, ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from countersign_client import Approval, ApprovalClient
from countersign_client.adapters.pydantic_ai import CountersignApprovals

ARGUMENTS = {"service": "api", "version": "1.4.2"}


class SayingClient(ApprovalClient):
    """Says when the request exists, so the test knows the agent waits on it."""

    async def request_approval(self, title: str, **options: Any) -> Approval:
        found = await super().request_approval(title, **options)
        print("asked", found.id, found.status, flush=True)
        return found


async def main(base_url: str, api_key: str, call_id: str) -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        done = [p for p in getattr(last, "parts", []) if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and done:
            return ModelResponse(parts=[TextPart(str(done[0].content))])
        return ModelResponse(parts=[ToolCallPart("deploy", ARGUMENTS, call_id)])

    async with SayingClient(base_url, api_key, backoff=0.1, max_backoff=1.0) as client:
        approvals = CountersignApprovals(client, ["U0APPROVER"])
        agent = Agent(FunctionModel(model), capabilities=[approvals.capability()])

        @agent.tool_plain(requires_approval=True)
        def deploy(service: str, version: str) -> str:
            print("ran", json.dumps({"service": service, "version": version}), flush=True)
            return f"deployed {service} {version}"

        result = await agent.run("Deploy api 1.4.2")
    print("output", result.output, flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
