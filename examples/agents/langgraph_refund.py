"""A LangGraph graph whose `refund` node pauses with an interrupt until a person approves the
refund in Countersign, then resumes with the answer (`Command(resume=...)`). No model is
needed: any node (a tool node, a plain function) can ask this way.

    countersign apikeys create agent        # prints the key
    export COUNTERSIGN_URL=http://localhost:8080 COUNTERSIGN_API_KEY=... APPROVERS=U0YOURID
    pip install 'countersign[langgraph]'
    python examples/agents/langgraph_refund.py

The checkpointer here is in memory; with a persistent one (e.g. langgraph-checkpoint-sqlite) a
restarted process finds the same paused thread and the same approval request.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from countersign_client import ApprovalClient
from countersign_client.adapters.langgraph import CountersignInterrupts, ask_approval


class Refund(TypedDict, total=False):
    order: int
    amount: float
    outcome: str


def refund(state: Refund) -> Refund:
    answer = ask_approval("refund", {"order": state["order"], "amount": state["amount"]})
    if not answer["approved"]:
        return {"outcome": f"Not refunded: {answer['reason']}"}
    arguments = answer["arguments"]  # the approver may have edited them
    return {"outcome": f"Refunded {arguments['amount']} on order {arguments['order']}"}


def build() -> Any:
    graph = StateGraph(Refund)
    graph.add_node("refund", refund)
    graph.add_edge(START, "refund")
    graph.add_edge("refund", END)
    return graph.compile(checkpointer=InMemorySaver())


async def main(url: str, api_key: str, approvers: list[str], thread_id: str = "") -> Any:
    config = {"configurable": {"thread_id": thread_id or f"refund-{uuid.uuid4().hex[:12]}"}}
    async with ApprovalClient(url, api_key) as client:
        approvals = CountersignInterrupts(client, approvers, timeout="30m")
        state = await approvals.run(build(), {"order": 1234, "amount": 80.5}, config)
    return state["outcome"]


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
