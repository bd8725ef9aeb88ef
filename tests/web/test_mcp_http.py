"""The MCP server on the web server (streamable HTTP at /api/v1/mcp), through the SDK's own
client: an agent asks, a person decides through the REST API, the agent gets the decision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.web.support import TENANT, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

APPROVER = "U0APPROVER"


@asynccontextmanager
async def mcp_session(stack: Stack, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(stack.web.url + "/api/v1/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def decide(stack: Stack, approval_id: str, decision: str) -> None:
    operator = await stack.access.api_keys.create_key(TENANT, "operator", stack.clock.now())
    body = {
        "step_id": "approval",
        "actor": APPROVER,
        "decision": decision,
        "fields": {"comment": "ok"},
    }
    async with (
        stack.client(operator.secret) as http,
        http.post(f"/api/v1/runs/{approval_id}/decisions", json=body) as r,
    ):
        assert r.status == 200, await r.text()


async def test_an_agent_asks_waits_and_gets_the_decision(stack: Stack) -> None:
    async with mcp_session(stack, stack.api_key) as agent:
        tools = {t.name for t in (await agent.list_tools()).tools}
        assert tools == {"request_approval", "get_approval", "list_approvals", "cancel_approval"}
        asked = await call(
            agent,
            "request_approval",
            title="Refund order 1234",
            details={"tool": "refund", "arguments": {"order": 1234}},
            approvers=[APPROVER],
            idempotency_key="call_1",
        )
        assert asked["status"] == "pending" and asked["approvers"] == [APPROVER]
        waiting = asyncio.create_task(
            call(agent, "get_approval", approval_id=asked["id"], wait="60s")
        )
        await decide(stack, asked["id"], "approve")
        answer = await waiting
    assert answer["status"] == "approved"
    assert answer["decided_by"] == [APPROVER] and answer["comment"] == "ok"
    assert answer["digest"] == asked["digest"]


async def test_the_key_that_asked_over_mcp_cannot_decide(stack: Stack) -> None:
    async with mcp_session(stack, stack.api_key) as agent:
        asked = await call(agent, "request_approval", title="Deploy", approvers=[APPROVER])
    body = {"step_id": "approval", "actor": APPROVER, "decision": "approve"}
    async with (
        stack.client(stack.api_key) as http,
        http.post(f"/api/v1/runs/{asked['id']}/decisions", json=body) as r,
    ):
        assert r.status == 403


async def test_list_and_cancel(stack: Stack) -> None:
    async with mcp_session(stack, stack.api_key) as agent:
        first = await call(agent, "request_approval", title="One", approvers=[APPROVER])
        second = await call(agent, "request_approval", title="Two", approvers=[APPROVER])
        pending = await call(agent, "list_approvals")
        assert [a["id"] for a in pending["approvals"]] == [second["id"], first["id"]]
        cancelled = await call(agent, "cancel_approval", approval_id=first["id"], reason="no")
        assert cancelled["status"] == "cancelled" and cancelled["reason"].endswith(": no")
        pending = await call(agent, "list_approvals", status="pending")
        assert [a["id"] for a in pending["approvals"]] == [second["id"]]
        again = await agent.call_tool("cancel_approval", {"approval_id": first["id"]})
        assert again.is_error  # a finished request cannot be cancelled


async def test_bad_arguments_are_tool_errors_that_name_the_field(stack: Stack) -> None:
    async with mcp_session(stack, stack.api_key) as agent:
        bad = await agent.call_tool(
            "request_approval", {"title": "x", "approvers": [APPROVER], "timeout": "soon"}
        )
        form = await agent.call_tool(
            "request_approval",
            {"title": "x", "approvers": [APPROVER], "fields": [{"id": "n", "type": "nope"}]},
        )
        missing = await agent.call_tool("get_approval", {"approval_id": "r0NOTHING"})
        pending = await call(agent, "list_approvals")
    assert bad.is_error and "timeout" in bad.content[0].text  # type: ignore[union-attr]
    assert form.is_error and "fields.0.type" in form.content[0].text  # type: ignore[union-attr]
    assert pending["approvals"] == []  # nothing was asked
    assert missing.is_error and "r0NOTHING" in missing.content[0].text  # type: ignore[union-attr]


async def test_another_tenants_approval_is_not_found(stack: Stack) -> None:
    async with mcp_session(stack, stack.api_key) as agent:
        asked = await call(agent, "request_approval", title="Mine", approvers=[APPROVER])
    async with mcp_session(stack, stack.other_key) as other:
        seen = await other.call_tool("get_approval", {"approval_id": asked["id"]})
        listed = await call(other, "list_approvals")
    assert seen.is_error and listed["approvals"] == []


async def test_a_wrong_api_key_is_refused(stack: Stack) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer cs_key_wrong"}):
        async with (
            stack.client() as http,
            http.post("/api/v1/mcp", json=body, headers=headers) as r,
        ):
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "unauthorized"
    with pytest.raises(ExceptionGroup) as refused:  # the SDK's client cannot even start
        async with mcp_session(stack, "cs_key_wrong"):
            pass
    assert refused.group_contains(MCPError)
