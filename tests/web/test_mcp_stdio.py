"""`python app.py mcp --tenant T` as an AI agent's host starts it: a subprocess speaking MCP on
stdio, driven by the SDK's own client, on the same SQLite file as a web server where a person
decides through the REST API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.web.support import TENANT, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
APPROVER = "U0APPROVER"


@asynccontextmanager
async def stdio_agent(database_url: str, cwd: Path) -> AsyncIterator[ClientSession]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TENANT"))}
    server = StdioServerParameters(
        command=sys.executable,
        args=[str(ROOT / "app.py"), "mcp", "--tenant", TENANT],
        env={**env, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"},
        cwd=cwd,  # no stray .env
    )
    with (cwd / "mcp-stderr.log").open("w") as errlog:
        async with (
            stdio_client(server, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_ask_over_stdio_decide_over_rest_get_the_decision(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    async with stdio_agent(database_url, tmp_path) as agent:
        tools = {t.name for t in (await agent.list_tools()).tools}
        assert tools == {"request_approval", "get_approval", "list_approvals", "cancel_approval"}
        asked = await call(
            agent,
            "request_approval",
            title="Drop the staging database",
            details={"tool": "sql", "arguments": {"query": "DROP DATABASE staging"}},
            approvers=[APPROVER],
            timeout="1h",
        )
        assert asked["status"] == "pending"
        run = await stack.engine.get_run(TENANT, asked["id"])  # in the shared database
        assert run.requester == "mcp:stdio"

        # The agent waits while a person decides in the serving process.
        waiting = asyncio.create_task(
            call(agent, "get_approval", approval_id=asked["id"], wait="60s")
        )
        body = {"step_id": "approval", "actor": APPROVER, "decision": "reject"}
        async with (
            stack.client(stack.api_key) as http,
            http.post(f"/api/v1/runs/{asked['id']}/decisions", json=body) as r,
        ):
            assert r.status == 200, await r.text()
        answer = await waiting
    assert answer["status"] == "rejected" and answer["decided_by"] == [APPROVER]


async def test_list_and_cancel_over_stdio(stack: Stack, database_url: str, tmp_path: Path) -> None:
    async with stdio_agent(database_url, tmp_path) as agent:
        first = await call(agent, "request_approval", title="One", approvers=[APPROVER])
        second = await call(agent, "request_approval", title="Two", approvers=[APPROVER])
        cancelled = await call(agent, "cancel_approval", approval_id=first["id"])
        pending = await call(agent, "list_approvals")
        unknown = await agent.call_tool("get_approval", {"approval_id": "r0NOTHING"})
    assert cancelled["status"] == "cancelled"
    assert [a["id"] for a in pending["approvals"]] == [second["id"]]
    assert unknown.is_error
    assert (await stack.engine.get_run(TENANT, first["id"])).status == "cancelled"
