"""The Python client's retries and its blocking wrapper, against the real web app on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from countersign_client import ApprovalClient, ApprovalError, SyncApprovalClient
from tests.web.support import TENANT, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

APPROVER = "U0APPROVER"


@pytest.fixture
async def lossy_proxy(stack: Stack) -> AsyncIterator[tuple[str, list[str]]]:
    """A proxy to the app that loses the answer to the first POST (the app did act on it) and
    says 502 instead, as a load balancer does when the upstream connection drops."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(request.method)
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                stack.web.url + request.path_qs,
                data=body,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            ) as upstream,
        ):
            text = await upstream.read()
            if request.method == "POST" and seen.count("POST") == 1:
                return web.Response(status=502, text="bad gateway")
            return web.Response(status=upstream.status, body=text, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        await runner.cleanup()


async def test_a_lost_answer_is_retried_with_the_same_key_and_asks_once(
    stack: Stack, lossy_proxy: tuple[str, list[str]]
) -> None:
    url, seen = lossy_proxy
    async with ApprovalClient(url, stack.api_key, backoff=0.01) as agent:
        request = await agent.request_approval(
            "Refund", details={"tool": "refund"}, approvers=[APPROVER]
        )
        assert seen == ["POST", "POST"]  # the 502 was retried
        pending, _ = await agent.list("pending")
    assert [a.id for a in pending] == [request.id]  # one request, not two
    page = await stack.engine.list_runs(TENANT, workflow="countersign-approval")
    assert len(page.runs) == 1


async def test_the_blocking_client_asks_and_waits(stack: Stack) -> None:
    operator = await stack.access.api_keys.create_key(TENANT, "operator", stack.clock.now())
    loop = asyncio.get_running_loop()
    asked = asyncio.Event()

    def agent_code() -> tuple[str, str, str]:
        """Code without an event loop of its own, in another thread."""
        with SyncApprovalClient(stack.web.url, stack.api_key) as client:
            request = client.request_approval(
                "Rotate the key", details={"tool": "rotate"}, approvers=[APPROVER]
            )
            loop.call_soon_threadsafe(asked.set)
            answer = client.wait(request.id)
            return request.status, answer.status, answer.decided_by[0]

    agent = asyncio.create_task(asyncio.to_thread(agent_code))
    await asked.wait()
    (pending,) = (await stack.engine.list_runs(TENANT, workflow="countersign-approval")).runs
    async with stack.client(operator.secret) as http:
        body = {"step_id": "approval", "actor": APPROVER, "decision": "reject"}
        async with http.post(f"/api/v1/runs/{pending.run_id}/decisions", json=body) as r:
            assert r.status == 200
    assert await agent == ("pending", "rejected", APPROVER)


async def test_a_wrong_base_url_is_a_clear_error(stack: Stack) -> None:
    async with ApprovalClient(stack.web.url + "/wrong", stack.api_key) as agent:
        with pytest.raises(ApprovalError) as failed:
            await agent.get("r0NOTHING")
    assert failed.value.status == 404 and "without JSON" in str(failed.value)
