"""The refusals of the shared table (tests/refusal_cases.py) through emailed links: each code
gets its page (a link for someone not asked is "not for you", a decided step "no longer waits
for you"), the same when the link is opened and when its form is posted; nothing is recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.mail.test_email_approvals import get_page, post_form
from tests.refusal_cases import CASES, IDS, Case, People, prepare, unchanged
from tests.web.support import TENANT, Stack
from web.links import ApprovalClaims

PEOPLE = People(
    requester="email:req@example.com",
    a="email:ann@example.com",
    b="email:bob@example.com",
    stranger="email:eve@example.com",
)
PAGE = {
    "not_approver": (403, "This link is not for you"),
    "already_voted": (409, "You already approved it."),
    "closed": (409, "The step is now approved."),
    "own_request": (403, "You cannot decide on your own request."),
}


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_link_shows_the_page_of_the_refusal_code(mail_stack: Stack, case: Case) -> None:
    stack = mail_stack
    run_id, actor = await prepare(stack.engine, TENANT, PEOPLE, case)
    claims = ApprovalClaims(
        tenant_id=TENANT,
        run_id=run_id,
        step_id="review",
        principal=actor,
        kind="approval",
        nonce="n" * 32,
        expires_at=stack.clock.now() + timedelta(days=1),
    )
    path = stack.path(stack.web.signer.approval_url(claims, "approve"))
    status, text = PAGE[case.code]
    async with stack.client() as browser:
        got, page = await get_page(browser, path)
        assert (got, text in page) == (status, True), page
        got, page = await post_form(browser, path, {"decision": "approve", "csrf": "x"})
        assert (got, text in page) == (status, True), page
    await unchanged(stack.engine, TENANT, run_id, case)
