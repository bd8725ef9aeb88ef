"""When the approver edited `editable` arguments, each framework runs the tool with the edited
ones. The answer here is made by hand (an approver's edit through the server is tested in
tests/web/test_agent_grants.py, and with an agent in test_edited_through_the_server.py) and goes
through the adapters' real mapping."""

from __future__ import annotations

from typing import Any, TypedDict

from agents import Agent, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from countersign_client import Approval, digest
from countersign_client.adapters import ToolGate, Verdict, tool_details
from countersign_client.adapters import langgraph as lg
from countersign_client.adapters import openai_agents as oa
from countersign_client.adapters import pydantic_ai as pa
from countersign_client.adapters.gate import verdict

set_tracing_disabled(True)
ASKED = {"order": 1234, "amount": 500.0}
EDITED = {"order": 1234, "amount": 80.0}


class EditingApprover(ToolGate):
    """Answers every call as an approver who lowered the amount to 80 (through `verdict`)."""

    def __init__(self) -> None:
        super().__init__(client=None, approvers=["U0BOB"])  # type: ignore[arg-type]
        self.asked: list[tuple[str, dict[str, Any], str]] = []

    async def ask(self, tool: str, arguments: dict[str, Any], call_id: str) -> Verdict:
        self.asked.append((tool, arguments, call_id))
        details, edited = tool_details(tool, arguments), tool_details(tool, EDITED)
        answer = Approval(
            id=f"r_{call_id}", status="approved", title="", digest=digest(details),
            details=details, decided_by=["U0BOB"], arguments=EDITED, approved_digest=digest(edited),
        )  # fmt: skip
        return verdict(answer, details)


async def test_pydantic_ai_runs_the_tool_with_the_edited_arguments() -> None:
    ran: list[Any] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        done = [p for p in getattr(last, "parts", []) if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and done:
            return ModelResponse(parts=[TextPart(str(done[0].content))])
        return ModelResponse(parts=[ToolCallPart("refund", ASKED, "call_E1")])

    approvals = pa.CountersignApprovals(None, [])  # type: ignore[arg-type]
    approvals.gate = EditingApprover()
    agent = PydanticAgent(FunctionModel(respond), capabilities=[approvals.capability()])

    @agent.tool_plain(requires_approval=True)
    def refund(order: int, amount: float) -> str:
        ran.append((order, amount))
        return f"refunded {amount}"

    assert (await agent.run("refund")).output == "refunded 80.0" and ran == [(1234, 80.0)]


async def test_openai_agents_has_the_model_repeat_the_call_with_the_edited_arguments() -> None:
    ran: list[Any] = []

    @function_tool(needs_approval=True)
    async def refund(order: int, amount: float) -> str:
        """Refund."""
        ran.append((order, amount))
        return f"refunded {amount}"

    model = ScriptedModel(
        [
            [function_call("refund", ASKED, call_id="call_E2")],
            [function_call("refund", EDITED, call_id="call_E3")],  # the model follows the note
            [assistant_message("done")],
        ]
    )
    approvals = oa.CountersignApprovals(None, [])  # type: ignore[arg-type]
    gate = approvals.gate = EditingApprover()
    agent = Agent(name="a", model=model, tools=[refund])
    assert (await approvals.run(agent, "refund")).final_output == "done"
    assert ran == [(1234, 80.0)]  # never with 500
    assert [call_id for _, _, call_id in gate.asked] == ["call_E2"]  # the repeat was not asked
    told = [i for i in model.calls[1].input if isinstance(i, dict) and "output" in i]
    assert '{"order": 1234, "amount": 80.0}' in str(told[-1]["output"])


async def test_langgraph_resumes_with_the_edited_arguments() -> None:
    class State(TypedDict, total=False):
        outcome: str

    def node(state: State) -> State:
        answer = lg.ask_approval("refund", ASKED)
        return {"outcome": f"{answer['approved']} {answer['arguments']}"}

    builder = StateGraph(State)
    builder.add_node("refund", node)
    builder.add_edge(START, "refund")
    builder.add_edge("refund", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    approvals = lg.CountersignInterrupts(None, [])  # type: ignore[arg-type]
    approvals.gate = EditingApprover()
    state = await approvals.run(graph, {}, {"configurable": {"thread_id": "e"}})
    assert state["outcome"] == f"True {EDITED}"
