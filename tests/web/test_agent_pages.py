"""An agent's approval request by email and on the web pages: the mail and the decision page
show the tool, the arguments, the digest and the asking key's name; editable arguments are
edited in the form (bad JSON answered on its field) and the answer carries both digests; the
dashboard's grants page lists a standing grant and its giver revokes it."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import default

import pytest

from countersign_client import ApprovalClient, digest
from tests.web.forms import csrf_of, form_fields
from tests.web.support import TENANT, Stack
from tests.web.test_dashboard import sign_in

ANA = "email:ana@example.com"
BOB = "U0BOB"
DETAILS = {"tool": "refund", "arguments": {"order": 1234, "amount": 80, "note": "<b>"}}


@pytest.fixture
async def agent(stack: Stack) -> AsyncIterator[ApprovalClient]:
    async with ApprovalClient(stack.web.url, stack.api_key, backoff=0.01, poll=30) as client:
        yield client


def mail_text(stack: Stack) -> str:
    (path,) = stack.outbox_dir.glob("*.eml")
    msg = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(msg, EmailMessage)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()) + "\n" + str(html.get_content())


async def test_the_mail_and_the_link_page_show_the_request_and_edit_its_arguments(
    stack: Stack, agent: ApprovalClient
) -> None:
    request = await agent.request_approval(
        "Refund order 1234", details=DETAILS, approvers=[ANA], editable=["amount"]
    )
    await stack.engine.run_until_idle()
    mail = mail_text(stack)
    assert "tests (API key) asks to run refund: Refund order 1234" in mail
    assert '"amount": 80' in mail and "&lt;b&gt;" in mail  # escaped in the HTML part
    assert digest(DETAILS) in mail and "Editable: amount" in mail
    form_url = re.search(r"Form:\s+(\S+)", mail)
    assert form_url
    path = stack.path(form_url.group(1))
    async with stack.client() as browser:
        async with browser.get(path) as r:
            page = await r.text()
        assert "<code>refund</code>" in page and digest(DETAILS) in page and "tests" in page
        fields = form_fields(page, "")
        assert fields["arg.amount"] == "80"
        assert "arguments" not in fields and "grant_hours" not in fields
        posted = {"csrf": csrf_of(page), "decision": "approve", "arg.amount": "fifty"}
        async with browser.post(path, data=posted) as r:
            assert r.status == 422
            again = await r.text()
        assert "not valid JSON" in again and "fifty" in again  # kept as typed
        posted["arg.amount"] = "50"
        async with browser.post(path, data=posted) as r:
            assert r.status == 200, await r.text()
    result = await agent.get(request.id)
    edited = {**DETAILS["arguments"], "amount": 50}
    assert result.status == "approved" and result.arguments == edited
    assert result.requested_digest == digest(DETAILS)
    assert result.approved_digest == digest({**DETAILS, "arguments": edited})


async def test_the_run_page_approves_with_a_grant_and_the_grants_page_revokes_it(
    stack: Stack, agent: ApprovalClient
) -> None:
    first = await agent.request_approval(
        "Refund", details=DETAILS, approvers=[BOB], grant={"max_hours": 8}
    )
    decide = f"/runs/{first.id}/steps/approval/decide"
    async with stack.client() as browser:
        await sign_in(stack, browser, BOB)
        async with browser.get(f"/runs/{first.id}") as r:
            page = await r.text()
        assert "<code>refund</code>" in page and digest(DETAILS) in page
        assert "Also allow the same for 8 hours" in page
        fields = form_fields(page, decide)
        assert "arguments" not in fields
        data = {"csrf": csrf_of(page), "decision": "approve", "grant_hours": "8", "comment": ""}
        async with browser.post(decide, data=data, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
        await stack.engine.run_until_idle()  # the dispatcher stores the grant
        assert (await agent.request_approval("Again", details=DETAILS, approvers=[BOB])).approved
        async with browser.get("/grants") as r:
            grants = await r.text()
        assert f'data-grant="{first.id}"' in grants and "Revoke" in grants
    async with stack.client() as other:
        await sign_in(stack, other, "U0CAROL")  # neither the giver nor an admin
        async with other.get("/grants") as r:
            theirs = await r.text()
        assert f'data-grant="{first.id}"' in theirs and "Revoke" not in theirs
        revoke = f"/grants/{first.id}/revoke"
        async with other.post(revoke, data={"csrf": csrf_of(theirs)}) as r:
            assert r.status == 409 and "only whoever gave" in (await r.text()).lower()
    async with stack.client() as browser:
        await sign_in(stack, browser, BOB)
        async with browser.get("/grants") as r:
            page = await r.text()
        async with browser.post(revoke, data={"csrf": csrf_of(page)}) as r:
            assert r.status == 200 and "No standing grant is in force" in await r.text()
    assert not (await agent.request_approval("Later", details=DETAILS, approvers=[BOB])).approved
    assert await stack.engine.active_grants(TENANT) == []


async def test_long_arguments_are_cut_in_the_mail_and_whole_on_the_page(
    stack: Stack, agent: ApprovalClient
) -> None:
    query = "é&" * 8000  # 16,000 characters
    await agent.request_approval(
        "Search", details={"tool": "search", "arguments": {"q": query}}, approvers=[ANA]
    )
    await stack.engine.run_until_idle()
    mail = mail_text(stack)
    assert "(cut: the decision page shows the full arguments)" in mail
    assert query not in mail and query[:5000] in mail
    form_url = re.search(r"Form:\s+(\S+)", mail)
    assert form_url
    async with stack.client() as browser, browser.get(stack.path(form_url.group(1))) as r:
        page = await r.text()
    assert query.replace("&", "&amp;") in page
