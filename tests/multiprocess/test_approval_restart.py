"""An agent waiting on an approval gets the answer although the server restarted meanwhile: the
real `python app.py serve` on SQLite is killed while the client waits and started again; the
request is decided on the new process; the client, which kept retrying, returns the decision."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from countersign_client import ApprovalClient, digest
from tests.multiprocess.served import Server

APPROVER = "U0APPROVER"


async def test_a_waiting_client_gets_the_answer_across_a_server_restart(
    server: tuple[Server, str, str, str],
) -> None:
    child, base_url, agent_key, operator_key = server
    details = {"tool": "deploy", "arguments": {"service": "api", "version": "1.4.2"}}
    async with (
        ApprovalClient(base_url, agent_key, backoff=0.1, max_backoff=1.0, retries=60) as agent,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {operator_key}"}) as operator,
    ):
        request = await agent.request_approval(
            "Deploy api 1.4.2", details=details, approvers=[APPROVER], idempotency_key="call_9"
        )
        waiting = asyncio.create_task(agent.wait(request.id))

        await child.stop(signal.SIGKILL)  # the agent's long-poll (or its next one) fails
        await child.started()

        # The same request is there after the restart; an approver decides on the new process.
        again = await agent.request_approval(
            "Deploy api 1.4.2", details=details, approvers=[APPROVER], idempotency_key="call_9"
        )
        assert again.id == request.id and again.status == "pending"
        body = {"step_id": "approval", "actor": APPROVER, "decision": "approve"}
        async with operator.post(f"{base_url}/api/v1/runs/{request.id}/decisions", json=body) as r:
            assert r.status == 200, await r.text()

        result = await waiting
    assert result.id == request.id and result.status == "approved"
    assert result.decided_by == [APPROVER] and result.digest == digest(details)
