"""An agent's approval request (the approvals API, through the adapters' gate) sent to an email
approver arrives over real SMTP; approving through the mail's signed link lets the waiting agent
run its tool, rejecting refuses it with the approver's comment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from countersign_client import ApprovalClient, digest
from countersign_client.adapters.gate import ToolGate, tool_details
from tests.mail.conftest import SmtpServer
from tests.mail.test_email_approvals import get_page, links, post_form
from tests.web.forms import csrf_of
from tests.web.support import Stack

BOB = "bob@example.com"
ARGUMENTS = {"table": "orders", "older_than": "90d"}

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def gate(mail_stack: Stack) -> AsyncIterator[ToolGate]:
    async with ApprovalClient(mail_stack.web.url, mail_stack.api_key) as client:
        yield ToolGate(client, [f"email:{BOB}"])


async def decide_by_mail(stack: Stack, smtp: SmtpServer, decision: str, comment: str) -> None:
    """Bob opens the link in the request's mail and sends the form."""
    await stack.engine.run_until_idle()  # the request's mail goes out
    (mail,) = smtp.inbox.to(BOB)
    assert "Run purge" in mail["Subject"] + mail.get_body(preferencelist=("plain",)).get_content()
    link = stack.path(links(mail)[decision])
    async with stack.client() as browser:
        status, page = await get_page(browser, link)
        assert status == 200
        form = {"csrf": csrf_of(page), "decision": decision, "comment": comment}
        status, page = await post_form(browser, link, form)
        assert status == 200, page


async def test_approved_by_the_mail_link_the_tool_runs(
    mail_stack: Stack, smtp: SmtpServer, gate: ToolGate
) -> None:
    asking = asyncio.create_task(gate.ask("purge", ARGUMENTS, "call_mail_1"))
    await gate.client.request_approval(  # the same call id: until the gate's request exists
        "Run purge", approvers=gate.approvers, details=tool_details("purge", ARGUMENTS),
        idempotency_key="call_mail_1",
    )  # fmt: skip
    await decide_by_mail(mail_stack, smtp, "approve", "")
    found = await asking
    assert found.run and found.arguments == ARGUMENTS
    assert found.approval is not None and found.approval.decided_by == [f"email:{BOB}"]
    assert found.approval.digest == digest(tool_details("purge", ARGUMENTS))


async def test_rejected_by_the_mail_link_the_tool_is_refused_with_the_comment(
    mail_stack: Stack, smtp: SmtpServer, gate: ToolGate
) -> None:
    asking = asyncio.create_task(gate.ask("purge", ARGUMENTS, "call_mail_2"))
    await gate.client.request_approval(
        "Run purge", approvers=gate.approvers, details=tool_details("purge", ARGUMENTS),
        idempotency_key="call_mail_2",
    )  # fmt: skip
    await decide_by_mail(mail_stack, smtp, "reject", "keep a year of orders")
    found = await asking
    assert not found.run and found.reason == f"Rejected by email:{BOB}: keep a year of orders"
