"""One name per person over the REST API: an address with or without "email:" (in any case) is
the same approver, actor and requester; a `user` input takes a Slack id or an address."""

from __future__ import annotations

import pytest

from tests.web.support import TENANT, Stack, approval_flow
from tests.web.test_api import assert_error, call, start

MANAGER_FLOW = """
name: expense
inputs:
  - {id: manager, type: user, label: Your manager, required: true}
steps:
  - id: manager
    type: approval
    approvers: ["{{ inputs.manager }}"]
"""


@pytest.mark.parametrize("approver", ["bob@example.com", "email:bob@example.com"])
@pytest.mark.parametrize("actor", ["bob@example.com", "email:Bob@Example.com"])
async def test_an_address_decides_however_it_is_written(
    stack: Stack, approver: str, actor: str
) -> None:
    await stack.apply(approval_flow(approver))
    async with stack.client(stack.api_key) as http:
        run = await start(http, inputs={"item": "desk", "amount": 120})
        await stack.engine.run_until_idle()  # the address is looked up (no Slack: stays one)
        status, body = await call(http, "GET", f"/runs/{run['run_id']}")
        principal = "email:bob@example.com"
        assert body["run"]["waiting_on"] == [{"step_id": "manager", "principal": principal}]
        decision = {"step_id": "manager", "actor": actor, "decision": "approve"}
        status, body = await call(http, "POST", f"/runs/{run['run_id']}/decisions", json=decision)
        assert status == 200, body
    state = await stack.engine.get_run(TENANT, run["run_id"])
    assert state.steps["manager"].output["decided_by"] == [principal]


async def test_a_user_input_takes_an_email_address(stack: Stack) -> None:
    await stack.apply(MANAGER_FLOW)
    async with stack.client(stack.api_key) as http:
        body = {"workflow": "expense", "inputs": {"manager": "bob"}}
        status, refused = await call(http, "POST", "/runs", json=body)
        assert status == 422
        assert_error(refused, "invalid_input")
        assert refused["error"]["details"] == {
            "manager": "expected a Slack user id like U0123ABCD or an email address, got 'bob'"
        }
        body = {"workflow": "expense", "inputs": {"manager": "Bob@Example.com"}}
        status, run = await call(http, "POST", "/runs", json=body, headers={})
        assert status == 201, run
        await stack.engine.run_until_idle()
        decision = {"step_id": "manager", "actor": "bob@example.com", "decision": "approve"}
        status, done = await call(http, "POST", f"/runs/{run['run_id']}/decisions", json=decision)
        assert status == 200, done
    state = await stack.engine.get_run(TENANT, run["run_id"])
    assert state.inputs["manager"] == "email:bob@example.com"
    assert state.status == "completed"


async def test_the_requester_is_stored_in_one_form(stack: Stack) -> None:
    await stack.apply(approval_flow("U0APPROVER"))
    async with stack.client(stack.api_key) as http:
        run = await start(http, requester="Ann@Example.com", inputs={"item": "desk"})
        assert run["requester"] == "email:ann@example.com"
        status, listed = await call(http, "GET", "/runs?requester=ann@example.com")
    assert status == 200
    assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]]
