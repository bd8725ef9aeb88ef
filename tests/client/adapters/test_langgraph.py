"""LangGraph: a node's `interrupt` (through `ask_approval`) becomes a Countersign approval (the
real web app and engine) and the graph resumes with `Command(resume=answer)`, on an in-memory
checkpointer; no model is needed for a node that asks."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from countersign_client import digest
from countersign_client.adapters import tool_details
from countersign_client.adapters.langgraph import CountersignInterrupts, ask_approval
from tests.client.adapters.conftest import APPROVER, Countersign


class Refund(TypedDict, total=False):
    order: int
    amount: float
    outcome: str


def refund_graph(ran: list[Any]) -> Any:
    def refund(state: Refund) -> Refund:
        arguments = {"order": state["order"], "amount": state["amount"]}
        answer = ask_approval("refund", arguments)
        if not answer["approved"]:
            return {"outcome": f"{answer['status']}: {answer['reason']}"}
        ran.append(answer["arguments"])
        return {"outcome": f"refunded {answer['arguments']['amount']}"}

    builder = StateGraph(Refund)
    builder.add_node("refund", refund)
    builder.add_edge(START, "refund")
    builder.add_edge("refund", END)
    return builder.compile(checkpointer=InMemorySaver())


async def pending_key(graph: Any, config: dict[str, Any]) -> str:
    """The idempotency key the adapter uses for the graph's pending interrupt."""
    while not (interrupts := (await graph.aget_state(config)).interrupts):  # noqa: ASYNC110
        await asyncio.sleep(0)  # the graph runs on this loop: until it reaches the interrupt
    (pending,) = interrupts
    return f"{config['configurable']['thread_id']}:{pending.id}"


async def test_an_interrupt_becomes_an_approval_and_the_answer_resumes_the_graph(
    countersign: Countersign,
) -> None:
    ran: list[Any] = []
    graph = refund_graph(ran)
    config = {"configurable": {"thread_id": "refund-1234"}}
    approvals = CountersignInterrupts(countersign.agent, [APPROVER])
    run = asyncio.create_task(approvals.run(graph, {"order": 1234, "amount": 80.5}, config))

    arguments = {"order": 1234, "amount": 80.5}
    request = await countersign.request_for("refund", arguments, await pending_key(graph, config))
    assert request.digest == digest(tool_details("refund", arguments)) and ran == []
    await countersign.decide(request.id, "approve")

    state = await run
    assert state["outcome"] == "refunded 80.5" and ran == [arguments]
    assert not (await graph.aget_state(config)).interrupts
    assert len(await countersign.requests()) == 1


async def test_a_rejection_resumes_the_graph_with_the_reason(countersign: Countersign) -> None:
    ran: list[Any] = []
    graph = refund_graph(ran)
    config = {"configurable": {"thread_id": "refund-99"}}
    approvals = CountersignInterrupts(countersign.agent, [APPROVER])
    run = asyncio.create_task(approvals.run(graph, {"order": 99, "amount": 900.0}, config))

    key = await pending_key(graph, config)
    request = await countersign.request_for("refund", {"order": 99, "amount": 900.0}, key)
    await countersign.decide(request.id, "reject", comment="needs a manager")

    state = await run
    assert ran == [] and state["outcome"] == f"rejected: Rejected by {APPROVER}: needs a manager"


async def test_an_expired_request_resumes_the_graph_as_not_approved(
    countersign: Countersign,
) -> None:
    ran: list[Any] = []
    graph = refund_graph(ran)
    config = {"configurable": {"thread_id": "refund-5"}}
    approvals = CountersignInterrupts(countersign.agent, [APPROVER], timeout="10m")
    run = asyncio.create_task(approvals.run(graph, {"order": 5, "amount": 1.0}, config))

    await countersign.request_for(
        "refund", {"order": 5, "amount": 1.0}, await pending_key(graph, config)
    )
    await countersign.expire()

    state = await run
    assert ran == [] and state["outcome"].startswith("expired: Not approved in time: ")


async def test_other_arguments_on_another_thread_are_another_request(
    countersign: Countersign,
) -> None:
    graph = refund_graph([])
    impatient = CountersignInterrupts(countersign.agent, [APPROVER], max_wait=0)
    first = {"configurable": {"thread_id": "t-1"}}
    second = {"configurable": {"thread_id": "t-2"}}
    await impatient.run(graph, {"order": 1, "amount": 10.0}, first)
    await impatient.run(graph, {"order": 1, "amount": 10000.0}, second)

    # Both graphs wait, each on its own request bound to its own arguments.
    assert (await graph.aget_state(first)).interrupts and (
        await graph.aget_state(second)
    ).interrupts
    digests = sorted(r.digest for r in await countersign.requests())
    assert digests == sorted(
        digest(tool_details("refund", {"order": 1, "amount": a})) for a in (10.0, 10000.0)
    )
