"""Standing grants and edited arguments through the approvals API (SQLite and PostgreSQL): an
approver approves and allows repeats for some hours; a repeat is approved at once by the
system naming the grant, other requests are not, and the grant ends when it expires or is
revoked. Edited arguments come back with both digests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from countersign_client import Approval, ApprovalClient, digest
from engine import InvalidInput, NotAllowed
from tests.web.support import OTHER_TENANT, TENANT, Stack

APPROVER = "U0APPROVER"
DETAILS = {"tool": "refund", "arguments": {"order": 1234, "amount": 80}}


@pytest.fixture
async def agent(stack: Stack) -> AsyncIterator[ApprovalClient]:
    async with ApprovalClient(stack.web.url, stack.api_key, backoff=0.01, poll=30) as client:
        yield client


async def approve(stack: Stack, approval_id: str, **fields: Any) -> None:
    """The approver's vote, as their Slack modal or web form records it; then the dispatcher
    performs what it committed (a grant is stored by its `record_grant` command)."""
    await stack.engine.decide(
        TENANT, approval_id, "approval", APPROVER, "approve", fields, channel="slack"
    )
    await stack.engine.run_until_idle()


async def ask(agent: ApprovalClient, details: dict[str, Any], **more: Any) -> Approval:
    return await agent.request_approval("Refund", details=details, approvers=[APPROVER], **more)


async def test_a_grant_approves_a_repeat_until_it_expires(
    stack: Stack, agent: ApprovalClient
) -> None:
    first = await ask(agent, DETAILS, grant={"max_hours": 8})
    await approve(stack, first.id, grant_hours=2)
    assert (await agent.get(first.id)).status == "approved"
    [grant] = await stack.engine.active_grants(TENANT)
    assert (grant.grant_id, grant.tool, grant.agent) == (first.id, "refund", "tests")
    assert grant.expires_at == stack.clock.now() + timedelta(hours=2)

    repeat = await ask(agent, DETAILS)  # no grant offer needed on the repeat
    assert repeat.status == "approved" and repeat.decided_by == ["system"]
    assert repeat.granted_by == {"grant_id": first.id, "approval_id": first.id}
    assert repeat.approved_digest == digest(DETAILS)
    # Recorded in the run's audit trail as the system's approval naming the grant.
    events = await stack.engine.timeline(TENANT, repeat.id)
    votes = [e.event for e in events if e.event.type == "decision_recorded"]
    assert [(v.actor, v.override) for v in votes] == [("system", True)]  # type: ignore[attr-defined]
    assert first.id in votes[0].reason  # type: ignore[attr-defined]

    other = await ask(agent, {"tool": "refund", "arguments": {"order": 1234, "amount": 81}})
    assert other.status == "pending"  # other arguments, no pattern: a person decides
    other_tool = await ask(agent, {"tool": "refund_all", "arguments": DETAILS["arguments"]})
    assert other_tool.status == "pending"

    stack.clock.advance(timedelta(hours=2, seconds=1))
    late = await ask(agent, DETAILS)
    assert late.status == "pending"  # expired
    assert await stack.engine.active_grants(TENANT) == []


async def test_a_pattern_covers_matching_arguments_only(
    stack: Stack, agent: ApprovalClient
) -> None:
    offer = {"max_hours": 4, "pattern": {"amount": {"max": 100}}}
    first = await ask(agent, DETAILS, grant=offer)
    with pytest.raises(InvalidInput, match="grant_hours: must be at most 4"):
        await approve(stack, first.id, grant_hours=8)  # more than the request offered
    await approve(stack, first.id, grant_hours=3)
    [grant] = await stack.engine.active_grants(TENANT)
    assert grant.expires_at == stack.clock.now() + timedelta(hours=3)
    small = await ask(agent, {"tool": "refund", "arguments": {"order": 1234, "amount": 99}})
    assert small.status == "approved" and small.granted_by is not None
    big = await ask(agent, {"tool": "refund", "arguments": {"order": 1234, "amount": 101}})
    assert big.status == "pending"
    other_order = await ask(agent, {"tool": "refund", "arguments": {"order": 9, "amount": 5}})
    assert other_order.status == "pending"  # not named by the pattern: must equal


async def test_a_revoked_grant_no_longer_applies_and_grants_stay_in_their_tenant(
    stack: Stack, agent: ApprovalClient
) -> None:
    first = await ask(agent, DETAILS, grant={"max_hours": 8})
    await approve(stack, first.id, grant_hours=8)
    assert (await ask(agent, DETAILS)).status == "approved"
    # Another tenant's agent with the same tool and arguments is not covered.
    async with ApprovalClient(stack.web.url, stack.other_key) as outsider:
        theirs = await outsider.request_approval("Refund", details=DETAILS, approvers=[APPROVER])
    assert theirs.status == "pending"
    assert await stack.engine.active_grants(OTHER_TENANT) == []
    # Another key of the same tenant is another agent: not covered either.
    key = await stack.access.api_keys.create_key(TENANT, "second-agent", stack.clock.now())
    async with ApprovalClient(stack.web.url, key.secret) as second:
        assert (await ask(second, DETAILS)).status == "pending"
    with pytest.raises(NotAllowed, match="only whoever gave"):
        await stack.engine.revoke_grant(TENANT, first.id, "UOTHER")
    revoked = await stack.engine.revoke_grant(TENANT, first.id, "UADMIN", admin=True)
    assert revoked.revoked_by == "UADMIN"
    assert (await ask(agent, DETAILS)).status == "pending"


async def test_edited_arguments_come_back_with_both_digests(
    stack: Stack, agent: ApprovalClient
) -> None:
    request = await ask(agent, DETAILS, editable=["amount"])
    assert request.agent == "tests" and request.requested_digest == digest(DETAILS)
    edited = {"order": 1234, "amount": 50}
    await approve(stack, request.id, arguments=json.dumps(edited))
    result = await agent.get(request.id)
    assert result.status == "approved" and result.arguments == edited
    assert result.requested_digest == digest(DETAILS)
    assert result.approved_digest == digest({"tool": "refund", "arguments": edited})
    assert "arguments" not in result.fields


async def test_only_editable_arguments_may_change(stack: Stack, agent: ApprovalClient) -> None:
    request = await ask(agent, DETAILS, editable=["amount"])
    with pytest.raises(InvalidInput, match="not editable: order"):
        await approve(stack, request.id, arguments=json.dumps({"order": 1, "amount": 80}))
    assert (await agent.get(request.id)).status == "pending"


async def test_bad_grant_and_editable_requests_name_the_field(
    stack: Stack, agent: ApprovalClient
) -> None:
    async with stack.client(stack.api_key) as http:
        bad = {"title": "t", "approvers": [APPROVER], "details": DETAILS}
        for extra, words in [
            ({"editable": ["nope"]}, "editable names no argument"),
            ({"grant": {"max_hours": 0}}, "max_hours"),
            ({"grant": {"pattern": {"amount": {"between": 1}}}}, "pattern.amount"),
            ({"details": {"arguments": {}}, "grant": {}}, "grant needs details.tool"),
        ]:
            async with http.post("/api/v1/approvals", json={**bad, **extra}) as r:
                assert r.status == 422, extra
                assert words in await r.text()
