"""The approvals API through the Python client, against the real web app and engine (SQLite
and PostgreSQL): requests, decisions by a listed approver, timeouts, idempotency, long-poll,
server-sent events, signed webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from countersign_client import Approval, ApprovalClient, ApprovalError, ConflictError, digest
from tests.web.support import TENANT, Stack, approval_flow
from web.pages.live import HUB
from web.webhooks import SIGNATURE_HEADER, verify

APPROVER = "U0APPROVER"
DETAILS = {"tool": "refund", "arguments": {"order": 1234, "amount": 80.5, "note": "café"}}


@pytest.fixture
async def agent(stack: Stack) -> AsyncIterator[ApprovalClient]:
    """The agent's client, with its own API key."""
    async with ApprovalClient(stack.web.url, stack.api_key, backoff=0.01, poll=30) as client:
        yield client


@pytest.fixture
async def operator_key(stack: Stack) -> str:
    """Another key of the tenant: decides on an approver's behalf (as a Slack click would)."""
    key = await stack.access.api_keys.create_key(TENANT, "operator", stack.clock.now())
    return key.secret


async def decide(
    stack: Stack, key: str, approval_id: str, decision: str = "approve", **fields: Any
) -> tuple[int, dict[str, Any]]:
    body = {"step_id": "approval", "actor": APPROVER, "decision": decision, "fields": fields}
    async with (
        stack.client(key) as http,
        http.post(f"/api/v1/runs/{approval_id}/decisions", json=body) as r,
    ):
        return r.status, await r.json()


async def watched(stack: Stack, approval_id: str) -> None:
    """Until a long-poll or stream follows the approval (they run on this event loop)."""
    hub = stack.web.app[HUB]
    while not hub.watchers((TENANT, approval_id)):  # noqa: ASYNC110  (no event tells it)
        await asyncio.sleep(0)


async def test_approve_returns_the_decision_with_its_digest_and_decider(
    stack: Stack, agent: ApprovalClient, operator_key: str
) -> None:
    ask = {
        "summary": "Damaged item",
        "details": DETAILS,
        "approvers": [APPROVER],
        "editable": ["amount"],
        "idempotency_key": "call_1",
    }
    waiting = asyncio.create_task(agent.approve("Refund order 1234", **ask))
    # The same key finds the same request, whichever of the two calls made it.
    request = await agent.request_approval("Refund order 1234", **ask)
    assert request.status == "pending" and request.editable == ["amount"]
    assert [a.id for a in (await agent.list("pending"))[0]] == [request.id]
    status, _ = await decide(stack, operator_key, request.id, comment="fine, once")
    assert status == 200
    result = await waiting
    assert result.status == "approved" and result.approved
    assert result.decision == "approve"
    assert result.decided_by == [APPROVER]
    assert result.decided_at is not None
    assert result.comment == "fine, once"
    assert result.details == DETAILS
    assert result.digest == digest(DETAILS)
    assert (await agent.list("pending"))[0] == []
    assert [a.id for a in (await agent.list("approved"))[0]] == [request.id]


async def test_a_timeout_applies_the_default_and_reports_expired(
    stack: Stack, agent: ApprovalClient
) -> None:
    request = await agent.request_approval(
        "Delete the staging database",
        details={"tool": "drop_db", "arguments": {"name": "staging"}},
        approvers=[APPROVER],
        timeout="1h",
        default_decision="approve",
    )
    assert request.status == "pending" and request.expires_at is not None
    stack.clock.advance(timedelta(hours=2))
    await stack.engine.run_until_idle()
    result = await agent.wait(request.id)
    assert result.status == "expired" and not result.approved
    assert result.decision == "approve"  # the default that applied
    assert result.decided_by == []
    assert "no decision within 1h" in result.reason
    assert [a.id for a in (await agent.list("expired"))[0]] == [request.id]


async def test_the_same_key_returns_the_same_request_and_other_details_conflict(
    stack: Stack, agent: ApprovalClient, operator_key: str
) -> None:
    first = await agent.request_approval(
        "Refund", details=DETAILS, approvers=[APPROVER], idempotency_key="call_7"
    )
    # Keys are reordered: the canonical form is the same, so it is the same request.
    again = await agent.request_approval(
        "Refund",
        details={"arguments": {"note": "café", "amount": 80.5, "order": 1234}, "tool": "refund"},
        approvers=[APPROVER],
        idempotency_key="call_7",
    )
    assert again.id == first.id
    with pytest.raises(ConflictError) as refused:
        await agent.request_approval(
            "Refund",
            details={**DETAILS, "arguments": {"order": 1234, "amount": 8000}},
            approvers=[APPROVER],
            idempotency_key="call_7",
        )
    assert refused.value.status == 409 and refused.value.code == "idempotency_conflict"
    other = await agent.request_approval(
        "Refund", details={"tool": "refund"}, approvers=[APPROVER], idempotency_key="call_8"
    )
    assert other.id != first.id and other.digest == digest({"tool": "refund"})
    # Another API key's tool-call ids are its own.
    async with ApprovalClient(stack.web.url, operator_key) as second_agent:
        theirs = await second_agent.request_approval(
            "Other", details={"x": 1}, approvers=[APPROVER], idempotency_key="call_7"
        )
    assert theirs.id not in (first.id, other.id)
    assert len((await agent.list("pending"))[0]) == 3


async def test_the_requesting_key_cannot_decide_and_can_cancel(
    stack: Stack, agent: ApprovalClient
) -> None:
    request = await agent.request_approval("Refund", details=DETAILS, approvers=[APPROVER])
    status, body = await decide(stack, stack.api_key, request.id)
    assert status == 403 and body["error"]["code"] == "own_request"
    assert (await agent.get(request.id)).status == "pending"

    cancelled = await agent.cancel(request.id, "not needed any more")
    assert cancelled.status == "cancelled" and cancelled.decision is None
    with pytest.raises(ConflictError):
        await agent.cancel(request.id)


async def test_bad_requests_name_the_field(stack: Stack, agent: ApprovalClient) -> None:
    with pytest.raises(ApprovalError) as bad:
        await agent.request_approval("Refund", approvers=["bob"])
    assert bad.value.status == 422 and bad.value.details[0]["field"] == "approvers"
    with pytest.raises(ApprovalError) as bad:
        await agent.request_approval("Refund", approvers=[APPROVER], policy=3)
    assert bad.value.status == 422 and bad.value.details[0]["field"] == "policy.n"
    with pytest.raises(ApprovalError) as bad:
        await agent.request_approval("Refund", approvers=[APPROVER], timeout="2 dayz")
    assert bad.value.status == 422 and bad.value.details[0]["field"] == "timeout"
    assert "unknown unit 'dayz'" in bad.value.details[0]["message"]
    with pytest.raises(ApprovalError) as bad:
        await agent.request_approval("R", approvers=[APPROVER], timeout="1h", remind_every="2h")
    assert bad.value.status == 422 and "remind_every" in bad.value.details[0]["message"]
    with pytest.raises(ApprovalError) as bad:
        await agent.request_approval(
            "Form", approvers=[APPROVER], fields=[{"id": "region", "type": "select"}]
        )
    assert bad.value.status == 422
    assert bad.value.details == [
        {"field": "fields.0.options", "message": "a select field needs options"}
    ]
    with pytest.raises(ApprovalError) as bad:
        await agent.request_approval("Big", details={"n": 2**60}, approvers=[APPROVER])
    assert bad.value.status == 422 and bad.value.details[0]["field"] == "details"


async def test_a_run_of_another_workflow_is_not_an_approval(
    stack: Stack, agent: ApprovalClient
) -> None:
    await stack.apply(approval_flow(APPROVER))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0BOB")
    with pytest.raises(ApprovalError) as missing:
        await agent.get(run.run_id)
    assert missing.value.status == 404


async def test_a_long_poll_returns_when_the_request_is_decided(
    stack: Stack, agent: ApprovalClient, operator_key: str
) -> None:
    request = await agent.request_approval("Refund", details=DETAILS, approvers=[APPROVER])
    async with stack.client(stack.api_key) as http:
        # A poll that ran out would answer the request as it was: pending.
        poll = asyncio.create_task(http.get(f"/api/v1/approvals/{request.id}?wait=60s"))
        await watched(stack, request.id)
        assert (await decide(stack, operator_key, request.id, "reject"))[0] == 200
        async with await poll as r:
            assert r.status == 200
            body = await r.json()
    assert body["status"] == "rejected" and body["decided_by"] == [APPROVER]


async def test_server_sent_events_deliver_the_decision(
    stack: Stack, agent: ApprovalClient, operator_key: str
) -> None:
    request = await agent.request_approval("Refund", details=DETAILS, approvers=[APPROVER])
    events: list[dict[str, Any]] = []
    async with (
        stack.client(stack.api_key) as http,
        http.get(f"/api/v1/approvals/{request.id}/events") as r,
    ):
        assert r.headers["Content-Type"] == "text/event-stream"
        async for line in r.content:
            text = line.decode().rstrip("\n")
            if text.startswith("data: "):
                events.append(json.loads(text.removeprefix("data: ")))
                if len(events) == 1:
                    assert (await decide(stack, operator_key, request.id))[0] == 200
    # The stream ended by itself after the decision.
    assert [e["status"] for e in events] == ["pending", "approved"]
    assert events[1]["digest"] == digest(DETAILS)


async def test_a_decided_request_posts_a_signed_webhook(
    stack: Stack, agent: ApprovalClient, operator_key: str
) -> None:
    deliveries: list[tuple[bool, str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        valid = verify(
            stack.config.webhook_key,
            request.headers.get(SIGNATURE_HEADER, ""),
            body,
            stack.clock.now(),
        )
        deliveries.append((valid, request.headers.get("Countersign-Event"), json.loads(body)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        request = await agent.request_approval(
            "Refund",
            details=DETAILS,
            approvers=[APPROVER],
            callback_url=f"http://{host}:{port}/hook",
        )
        assert (await decide(stack, operator_key, request.id))[0] == 200
        await stack.engine.run_until_idle()
    finally:
        await runner.cleanup()
    ((valid, event, payload),) = deliveries
    assert valid and event == "approval.decided"
    assert payload["event"] == "approval.decided" and payload["tenant_id"] == TENANT
    decided = Approval.from_json(payload["approval"])
    assert decided.id == request.id and decided.status == "approved"
    assert decided.digest == digest(DETAILS) and decided.decided_by == [APPROVER]


async def test_an_email_approver_gets_the_request_and_its_decision_form(
    stack: Stack, agent: ApprovalClient, operator_key: str
) -> None:
    ana = "email:ana@example.com"
    request = await agent.request_approval(
        "Grant prod access",
        details={"tool": "grant", "arguments": {"user": "bob"}},
        approvers=[ana],
        fields=[{"id": "ticket", "type": "text", "required_on": "approve"}],
    )
    await stack.engine.run_until_idle()
    (mail,) = stack.outbox_dir.glob("*.eml")
    assert "Grant prod access" in mail.read_text()

    body = {"step_id": "approval", "actor": ana, "decision": "approve"}
    async with stack.client(operator_key) as http:
        async with http.post(f"/api/v1/runs/{request.id}/decisions", json=body) as r:
            assert r.status == 422  # the form asks for a ticket on approve
        body["fields"] = {"ticket": "SEC-42", "comment": "for a week"}
        async with http.post(f"/api/v1/runs/{request.id}/decisions", json=body) as r:
            assert r.status == 200
    result = await agent.get(request.id)
    assert result.status == "approved" and result.decided_by == [ana]
    assert result.fields == {"ticket": "SEC-42"} and result.comment == "for a week"


async def test_each_request_keeps_its_own_timeout_whatever_was_asked_since(
    stack: Stack, agent: ApprovalClient
) -> None:
    def ask(title: str, **shape: Any) -> Any:
        return agent.request_approval(title, details={"t": title}, approvers=[APPROVER], **shape)

    first = await ask("one", timeout="1h", default_decision="reject")
    untimed = await ask("two")  # another shape: the built-in workflow's latest version now
    third = await ask("three", timeout="1h", default_decision="reject")
    stack.clock.advance(timedelta(hours=2))
    await stack.engine.run_until_idle()
    assert (await agent.get(first.id)).status == "expired"
    assert (await agent.get(untimed.id)).status == "pending"
    again = await agent.get(third.id)
    assert again.status == "expired" and again.decision == "reject"
    runs = {r.run_id: r.version for r in (await stack.engine.list_runs(TENANT)).runs}
    assert runs[first.id] == runs[third.id] != runs[untimed.id]
