"""The REST API: auth, tenancy, workflows, runs, decisions, signals, errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.web.support import SIGNAL_FLOW, TENANT, Stack, approval_flow

APPROVER = "U0APPROVER"


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, "/api/v1" + path, **kw) as r:
        assert r.content_type == "application/json"
        return r.status, await r.json()


def assert_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def start(
    http: aiohttp.ClientSession, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    status, run = await call(
        http, "POST", "/runs", json={"workflow": "purchase", **body}, headers=headers
    )
    assert status == 201, run
    return run


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "send an API key"),
        ({"Authorization": "Basic abc"}, "must be: Bearer"),
        ({"Authorization": "Bearer cs_key_nope_nope"}, "unknown or was revoked"),
    ],
)
async def test_calls_without_a_valid_key_are_refused(
    stack: Stack, headers: dict[str, str], message: str
) -> None:
    async with stack.client() as http, http.get("/api/v1/runs", headers=headers) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        body = await r.json()
    assert_error(body, "unauthorized")
    assert message in body["error"]["message"]


async def test_a_revoked_key_stops_working_at_once(stack: Stack) -> None:
    new = await stack.access.api_keys.create_key(TENANT, "ci", stack.clock.now())
    async with stack.client(new.secret) as http:
        assert (await call(http, "GET", "/workflows"))[0] == 200
        await stack.access.api_keys.revoke_key(TENANT, new.key.id, stack.clock.now())
        status, body = await call(http, "GET", "/workflows")
    assert status == 401
    assert_error(body, "unauthorized")
    listed = {k.id: k for k in await stack.access.api_keys.list_keys(TENANT)}
    assert listed[new.key.id].revoked_at is not None


async def test_openapi_document_is_public_and_describes_every_operation(stack: Stack) -> None:
    async with stack.client() as http, http.get("/api/v1/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    ops = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert ("post", "/api/v1/runs") in ops
    assert ("post", "/api/v1/runs/{run_id}/signals/{name}") in ops
    assert ("get", "/api/v1/workflows/{name}") in ops
    start_op = doc["paths"]["/api/v1/runs"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in start_op["parameters"])
    assert "Countersign-Signature" in doc["info"]["description"]
    assert "runFinished" in doc["webhooks"]
    assert "StartRunRequest" in doc["components"]["schemas"]


async def test_workflows_apply_list_get_any_version_disable(stack: Stack) -> None:
    async with stack.client(stack.api_key) as http:
        status, body = await call(
            http, "POST", "/workflows", json={"source": approval_flow(APPROVER)}
        )
        assert (status, body) == (201, {"name": "purchase", "version": 1, "created": True})
        status, body = await call(
            http, "POST", "/workflows", json={"source": approval_flow(APPROVER)}
        )
        assert (status, body["version"], body["created"]) == (200, 1, False)
        status, body = await call(
            http, "POST", "/workflows", json={"source": approval_flow("U0SOMEONE2")}
        )
        assert (status, body["version"]) == (201, 2)

        status, listed = await call(http, "GET", "/workflows")
        assert [(w["name"], w["version"]) for w in listed["workflows"]] == [("purchase", 2)]
        status, v1 = await call(http, "GET", "/workflows/purchase?version=1")
        assert status == 200 and APPROVER in v1["source"]
        assert v1["definition"]["steps"][0]["approvers"] == [APPROVER]

        status, body = await call(http, "POST", "/workflows/purchase/disable")
        assert (status, body["disabled"]) == (200, True)
        status, body = await call(
            http, "POST", "/runs", json={"workflow": "purchase", "inputs": {"item": "x"}}
        )
        assert status == 409
        assert_error(body, "workflow_disabled")
        status, body = await call(http, "POST", "/workflows/purchase/enable")
        assert (status, body["disabled"]) == (200, False)


async def test_invalid_definitions_and_bodies_get_field_level_errors(stack: Stack) -> None:
    async with stack.client(stack.api_key) as http:
        status, body = await call(
            http,
            "POST",
            "/workflows",
            json={"source": "name: x\nsteps:\n  - id: a\n    type: nope\n"},
        )
        assert status == 422
        assert_error(body, "invalid_definition")
        assert body["error"]["details"][0]["field"].startswith("steps")

        status, body = await call(http, "POST", "/workflows", json={})
        assert status == 422
        assert_error(body, "invalid_request")

        async with http.post("/api/v1/workflows", data=b"{not json") as r:
            assert r.status == 400
            assert_error(await r.json(), "bad_json")

        status, body = await call(http, "GET", "/runs?limit=0")
        assert status == 422
        assert body["error"]["details"][0]["field"] == "limit"

        status, body = await call(http, "GET", "/nothing-here")
        assert status == 404
        assert_error(body, "not_found")

        status, body = await call(http, "DELETE", "/runs")
        assert status == 405
        assert_error(body, "method_not_allowed")


async def test_start_inputs_are_checked(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as http:
        status, body = await call(
            http, "POST", "/runs", json={"workflow": "purchase", "inputs": {"amount": "lots"}}
        )
    assert status == 422
    assert_error(body, "invalid_input")
    assert set(body["error"]["details"]) == {"item", "amount"}


async def test_idempotency_key_makes_a_retried_start_return_the_same_run(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as http:
        headers = {"Idempotency-Key": "order-42"}
        first = await start(http, inputs={"item": "desk"}, headers=headers)
        again = await start(http, inputs={"item": "desk"}, headers=headers)
        other = await start(http, inputs={"item": "desk"})
        _, page = await call(http, "GET", "/runs")
    assert again["run_id"] == first["run_id"]
    assert other["run_id"] != first["run_id"]
    assert len(page["runs"]) == 2


async def test_an_idempotency_key_sent_with_a_different_body_is_a_409(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    headers = {"Idempotency-Key": "order-43", "Content-Type": "application/json"}
    async with stack.client(stack.api_key) as http:
        first = await start(http, inputs={"item": "desk", "amount": 5}, headers=headers)
        # The same request, keys in another order and spaced differently: a retry.
        same = '{ "inputs": {"amount": 5, "item": "desk"},\n "workflow": "purchase" }'
        status, again = await call(http, "POST", "/runs", data=same, headers=headers)
        assert status == 201 and again["run_id"] == first["run_id"]
        for changed in [
            {"inputs": {"item": "desk", "amount": 6}},
            {"inputs": {"item": "desk", "amount": 5}, "requester": "U0ALICE"},
        ]:
            status, body = await call(
                http, "POST", "/runs", json={"workflow": "purchase", **changed}, headers=headers
            )
            assert status == 409, body
            assert_error(body, "idempotency_conflict")
            assert first["run_id"] in body["error"]["message"]
        _, page = await call(http, "GET", "/runs")
    assert [r["run_id"] for r in page["runs"]] == [first["run_id"]]


async def test_list_filters_and_cursor(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    await stack.apply(SIGNAL_FLOW)
    async with stack.client(stack.api_key) as http:
        ids = [(await start(http, inputs={"item": f"i{n}"}))["run_id"] for n in range(3)]
        _, deploy = await call(http, "POST", "/runs", json={"workflow": "deploy"})
        await start(http, inputs={"item": "mine"}, requester="U0ALICE")

        _, page = await call(http, "GET", "/runs?workflow=purchase&limit=2")
        assert len(page["runs"]) == 2 and page["next_cursor"]
        _, rest = await call(
            http, "GET", f"/runs?workflow=purchase&limit=2&cursor={page['next_cursor']}"
        )
        seen = [r["run_id"] for r in page["runs"] + rest["runs"]]
        assert len(seen) == 4 and set(ids) <= set(seen)

        _, alice = await call(http, "GET", "/runs?requester=U0ALICE")
        assert [r["requester"] for r in alice["runs"]] == ["U0ALICE"]
        _, running = await call(http, "GET", "/runs?status=running&workflow=deploy")
        assert [r["run_id"] for r in running["runs"]] == [deploy["run_id"]]
        _, done = await call(http, "GET", "/runs?status=completed")
        assert done["runs"] == []


async def test_another_tenants_ids_are_not_found(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as mine, stack.client(stack.other_key) as theirs:
        run = await start(mine, inputs={"item": "desk"})
        rid = run["run_id"]
        for method, path, body in [
            ("GET", f"/runs/{rid}", None),
            ("POST", f"/runs/{rid}/cancel", {}),
            (
                "POST",
                f"/runs/{rid}/decisions",
                {"step_id": "manager", "actor": APPROVER, "decision": "approve"},
            ),
            ("POST", f"/runs/{rid}/signals/go", {}),
            ("GET", "/workflows/purchase", None),
            ("POST", "/workflows/purchase/disable", None),
        ]:
            status, err = await call(theirs, method, path, json=body)
            assert status == 404, (method, path, err)
            assert_error(err, "not_found")
        _, listed = await call(theirs, "GET", "/runs")
        assert listed["runs"] == []
        status, _ = await call(mine, "GET", f"/runs/{rid}")
        assert status == 200


async def test_decisions_are_checked_like_slack_and_resume_the_run(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as http:
        run = await start(http, inputs={"item": "desk", "amount": 120})
        rid = run["run_id"]
        assert run["waiting_on"] == [{"step_id": "manager", "principal": APPROVER}]
        decision = {"step_id": "manager", "actor": "U0INTRUDER", "decision": "approve"}
        status, body = await call(http, "POST", f"/runs/{rid}/decisions", json=decision)
        assert status == 403
        assert_error(body, "not_approver")

        decision = {"step_id": "manager", "actor": APPROVER, "decision": "reject"}
        status, body = await call(http, "POST", f"/runs/{rid}/decisions", json=decision)
        assert status == 422 and "comment" in body["error"]["details"]

        decision = {"step_id": "manager", "actor": APPROVER, "decision": "approve"}
        status, body = await call(http, "POST", f"/runs/{rid}/decisions", json=decision)
        assert status == 200
        await stack.engine.run_until_idle()
        status, detail = await call(http, "GET", f"/runs/{rid}")
    assert detail["run"]["status"] == "completed"
    decided = [e for e in detail["timeline"] if e["type"] == "decision_recorded"]
    assert [(e["actor"], e["channel"]) for e in decided] == [(APPROVER, "api")]
    assert detail["timeline"][0]["type"] == "run_started"
    assert [e["seq"] for e in detail["timeline"]] == sorted(e["seq"] for e in detail["timeline"])


async def test_cancel(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as http:
        run = await start(http, inputs={"item": "desk"})
        status, _ = await call(
            http, "POST", f"/runs/{run['run_id']}/cancel", json={"reason": "changed my mind"}
        )
        assert status == 200
        await stack.engine.run_until_idle()
        _, detail = await call(http, "GET", f"/runs/{run['run_id']}")
        assert detail["run"]["status"] == "cancelled"
        status, _body = await call(http, "POST", f"/runs/{run['run_id']}/cancel", json={})
    assert status == 409


async def test_a_signal_resumes_a_waiting_run_with_its_payload(stack: Stack) -> None:
    await stack.apply(SIGNAL_FLOW)
    async with stack.client(stack.api_key) as http:
        _, run = await call(http, "POST", "/runs", json={"workflow": "deploy"})
        rid = run["run_id"]
        status, body = await call(http, "POST", f"/runs/{rid}/signals/wrong-name", json={})
        assert status in (404, 409), body
        status, body = await call(
            http, "POST", f"/runs/{rid}/signals/ci-finished", json={"result": "green"}
        )
        assert status == 200, body
        await stack.engine.run_until_idle()
        _, detail = await call(http, "GET", f"/runs/{rid}")
    assert detail["run"]["status"] == "completed"
    steps = {s["id"]: s for s in detail["run"]["steps"]}
    assert steps["wait_ci"]["output"] == {"payload": {"result": "green"}}


INPUT_FLOW = """
name: change
steps:
  - id: ticket
    type: input
    assignee: U0DANA
    fields:
      - id: number
        type: text
        required: true
"""


async def test_input_steps_are_filled_on_behalf_of_their_assignee(stack: Stack) -> None:
    await stack.apply(INPUT_FLOW)
    async with stack.client(stack.api_key) as http:
        _, run = await call(http, "POST", "/runs", json={"workflow": "change"})
        path = f"/runs/{run['run_id']}/steps/ticket/input"
        status, body = await call(http, "POST", path, json={"actor": "U0EVE", "values": {}})
        assert status == 403
        assert_error(body, "not_assignee")
        status, body = await call(http, "POST", path, json={"actor": "U0DANA", "values": {}})
        assert status == 422 and body["error"]["details"] == {"number": "required"}
        values = {"number": "CHG-9"}
        status, body = await call(http, "POST", path, json={"actor": "U0DANA", "values": values})
        assert status == 200
        await stack.engine.run_until_idle()
        _, detail = await call(http, "GET", f"/runs/{run['run_id']}")
    assert detail["run"]["status"] == "completed"
    assert detail["run"]["steps"][0]["output"]["values"] == values
