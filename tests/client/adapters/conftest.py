"""A real Countersign (web app + engine on SQLite) for the adapters, the agent's client, and an
operator's key that decides as the approver would in Slack (the REST decisions endpoint)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from countersign_client import Approval, ApprovalClient
from countersign_client.adapters import tool_details
from engine.testing import ManualClock
from storage import Storage
from tests.conftest import empty_database
from tests.web.support import TENANT, Stack, web_stack

APPROVER = "U0APPROVER"


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """SQLite only: the adapters talk HTTP; the stores' backends are tested elsewhere."""
    async with empty_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
async def stack(storage: Storage, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Stack]:
    async with web_stack(storage, clock, tmp_path) as s:
        yield s


@dataclass
class Countersign:
    """The server as the tests use it: the agent's client and the approver's side."""

    stack: Stack
    agent: ApprovalClient
    operator_key: str

    async def request_for(self, tool: str, arguments: dict[str, Any], call_id: str) -> Approval:
        """The request an adapter makes for this call (the same idempotency key finds it,
        whether the adapter or this call made it first)."""
        return await self.agent.request_approval(
            f"Run {tool}",
            details=tool_details(tool, arguments),
            approvers=[APPROVER],
            idempotency_key=call_id,
        )

    async def decide(self, approval_id: str, decision: str, comment: str = "") -> None:
        body = {
            "step_id": "approval",
            "actor": APPROVER,
            "decision": decision,
            "fields": {"comment": comment} if comment else {},
        }
        async with (
            self.stack.client(self.operator_key) as http,
            http.post(f"/api/v1/runs/{approval_id}/decisions", json=body) as r,
        ):
            assert r.status == 200, await r.text()

    async def expire(self) -> None:
        """Let every request's timeout pass."""
        self.stack.clock.advance(timedelta(days=2))
        await self.stack.engine.run_until_idle()

    async def first_pending(self) -> Approval:
        """The first request to appear (for code under test that makes its own call ids)."""
        while not (pending := (await self.agent.list("pending"))[0]):  # noqa: ASYNC110
            await asyncio.sleep(0)  # the code under test runs on this loop
        return pending[-1]

    async def requests(self) -> list[Approval]:
        return (await self.agent.list(limit=200))[0]


@pytest.fixture
async def countersign(stack: Stack) -> AsyncIterator[Countersign]:
    operator = await stack.access.api_keys.create_key(TENANT, "operator", stack.clock.now())
    async with ApprovalClient(stack.web.url, stack.api_key, backoff=0.01) as agent:
        yield Countersign(stack, agent, operator.secret)
