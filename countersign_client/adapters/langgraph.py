"""LangGraph: a node pauses with `interrupt(...)` to ask for approval, Countersign asks people,
and the graph resumes with `Command(resume=answer)`.

    from countersign_client.adapters.langgraph import CountersignInterrupts, ask_approval

    def refund_node(state):
        answer = ask_approval("refund", {"order": state["order"], "amount": 80.5})
        if not answer["approved"]:
            return {"outcome": answer["reason"]}
        return {"outcome": refund(**answer["arguments"])}  # the approver may have edited them

    graph = builder.compile(checkpointer=checkpointer)  # interrupts need a checkpointer
    async with ApprovalClient(url, api_key) as client:
        approvals = CountersignInterrupts(client, approvers=["U0BOB"], timeout="30m")
        state = await approvals.run(graph, {"order": 1234}, {"configurable": {"thread_id": "t1"}})

`ask_approval` is `interrupt(...)` with a value this adapter recognises; `run` invokes the graph,
turns each such pending interrupt into an approval request (idempotency key: the `call_id` given
to `ask_approval`, else the thread id and the interrupt's id, both stable across a restart with
a persistent checkpointer) and resumes the graph with the answers. The answer is a JSON dict:
`approved`, `arguments`, `reason`, `status` and `approval_id`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from countersign_client.adapters.gate import ToolGate, Verdict, import_error
from countersign_client.client import ApprovalClient

try:
    from langgraph.types import Command, Interrupt, interrupt
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise import_error("LangGraph", "langgraph", exc) from exc

KIND = "countersign.approval"


class Answer(TypedDict):
    approved: bool
    arguments: dict[str, Any]
    reason: str
    status: str  # approved | rejected | expired | cancelled (or "refused" when not asked)
    approval_id: str | None


def ask_approval(tool: str, arguments: dict[str, Any], *, call_id: str | None = None) -> Answer:
    """In a graph node: pause until people approve `tool` with `arguments`. Returns the answer;
    run the tool only when `approved`, with `answer["arguments"]`."""
    value = {"kind": KIND, "tool": tool, "arguments": arguments, "call_id": call_id}
    answer: Answer = interrupt(value)
    return answer


def answer_of(found: Verdict) -> Answer:
    approval = found.approval
    return Answer(
        approved=found.run,
        arguments=found.arguments,
        reason=found.reason,
        status=approval.status if approval is not None else "refused",
        approval_id=approval.id if approval is not None else None,
    )


class CountersignInterrupts:
    """Resolves a graph's approval interrupts through Countersign. `gate_options` are
    `ToolGate`'s (`timeout`, `default_decision`, `policy`, `editable`, `max_wait`, `title`,
    `key_prefix`)."""

    def __init__(
        self, client: ApprovalClient, approvers: Sequence[str], **gate_options: Any
    ) -> None:
        self.gate = ToolGate(client, approvers, **gate_options)

    async def run(self, graph: Any, input: Any, config: dict[str, Any], **options: Any) -> Any:
        """`graph.ainvoke` until it ends, or pauses on something this adapter cannot answer (an
        interrupt of another kind, or an approval still undecided after `max_wait`): then
        `graph.aget_state(config).interrupts` says what it waits for. Returns the last output."""
        output = await graph.ainvoke(input, config, **options)
        while True:
            pending = (await graph.aget_state(config)).interrupts
            answers = await self.answers(pending, config)
            if not answers:
                return output
            output = await graph.ainvoke(Command(resume=answers), config, **options)

    async def answers(
        self, interrupts: Sequence[Interrupt], config: dict[str, Any]
    ) -> dict[str, Answer]:
        """Interrupt id -> answer, for the decided approvals among `interrupts`."""
        thread = str((config.get("configurable") or {}).get("thread_id", ""))
        asked = [i for i in interrupts if isinstance(i.value, dict) and i.value.get("kind") == KIND]
        calls = [
            (
                str(i.value["tool"]),
                dict(i.value.get("arguments") or {}),
                str(i.value.get("call_id") or f"{thread}:{i.id}"),
            )
            for i in asked
        ]
        verdicts = await self.gate.ask_many(calls)
        return {i.id: answer_of(v) for i, v in zip(asked, verdicts, strict=True) if not v.pending}
