"""End to end through the real server: a Pydantic AI agent (offline `FunctionModel`) asks with an
`editable` argument, the approver lowers the amount in the web decision form, and the tool
runs with the edited amount; the answer's approved digest is that of the edited details."""

from __future__ import annotations

import asyncio
from typing import Any

from countersign_client import digest
from countersign_client.adapters import tool_details
from countersign_client.adapters.pydantic_ai import CountersignApprovals
from tests.client.adapters.conftest import APPROVER, Countersign
from tests.client.adapters.test_pydantic_ai import refund_agent, scripted
from tests.web.forms import csrf_of, form_fields
from tests.web.test_dashboard import sign_in


async def test_the_tool_runs_with_the_arguments_the_approver_edited_on_the_web(
    countersign: Countersign,
) -> None:
    asked = {"order": 1234, "amount": 500.0}
    ran: list[Any] = []
    approvals = CountersignApprovals(countersign.agent, [APPROVER], editable=["amount"])
    agent = refund_agent(scripted(("refund", asked, "call_W1")), approvals, ran)
    run = asyncio.create_task(agent.run("Refund order 1234"))

    request = await countersign.first_pending()
    assert request.editable == ["amount"] and ran == []
    stack = countersign.stack
    decide = f"/runs/{request.id}/steps/approval/decide"
    async with stack.client() as browser:
        await sign_in(stack, browser, APPROVER)
        async with browser.get(f"/runs/{request.id}") as r:
            page = await r.text()
        assert form_fields(page, decide)["arg.amount"] == "500"  # canonical JSON
        data = {"csrf": csrf_of(page), "decision": "approve", "arg.amount": "80"}
        async with browser.post(decide, data=data, allow_redirects=False) as r:
            assert r.status == 303, await r.text()

    result = await run
    assert ran == [(1234, 80.0)]  # never with 500
    assert result.output == "refund: refunded 80.0 on order 1234"
    answer = await countersign.agent.get(request.id)
    edited = {"order": 1234, "amount": 80}
    assert answer.status == "approved" and answer.arguments == edited
    assert answer.requested_digest == digest(tool_details("refund", asked))
    assert answer.approved_digest == digest(tool_details("refund", edited))
