"""The refusals of the shared tables (tests/refusal_cases.py) through emailed links: each code
gets its page (a link for someone not asked is "not for you", a decided step "no longer waits
for you"), the same when the link is opened and when its form is posted (a decision, an input
form, a hand-on or a question from the link page); nothing is recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.mail.test_email_approvals import get_page, post_form
from tests.refusal_cases import (
    CASES,
    IDS,
    INPUT_CASES,
    INPUT_IDS,
    Case,
    HandoffCase,
    InputCase,
    People,
    handoff_cases,
    handoff_ids,
    input_unchanged,
    prepare,
    prepare_input,
    unchanged,
)
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


def _link(stack: Stack, run_id: str, step_id: str, actor: str, kind: str) -> str:
    claims = ApprovalClaims(
        tenant_id=TENANT,
        run_id=run_id,
        step_id=step_id,
        principal=actor,
        kind=kind,
        nonce="n" * 32,
        expires_at=stack.clock.now() + timedelta(days=1),
    )
    return stack.path(stack.web.signer.approval_url(claims))


FORM = {"delegate": {"to": "email:dan@example.com", "reason": ""}, "ask": {"question": "Why?"}}


@pytest.mark.parametrize("case", handoff_cases("email"), ids=handoff_ids("email"))
async def test_a_link_handoff_shows_the_page_of_the_refusal_code(
    mail_stack: Stack, case: HandoffCase
) -> None:
    stack = mail_stack
    run_id, actor = await prepare(stack.engine, TENANT, PEOPLE, case)
    path = f"{_link(stack, run_id, 'review', actor, 'approval')}/{case.action}"
    status, text = PAGE[case.code]
    async with stack.client() as browser:
        got, page = await post_form(browser, path, {**FORM[case.action], "csrf": "x"})
        assert (got, text in page) == (status, True), page
    await unchanged(stack.engine, TENANT, run_id, case)


INPUT_PAGE = {
    "not_assignee": (403, "This link is not for you"),
    "closed": (409, "This step no longer waits for you"),
}


@pytest.mark.parametrize("case", INPUT_CASES, ids=INPUT_IDS)
async def test_an_input_link_shows_the_page_of_the_refusal_code(
    mail_stack: Stack, case: InputCase
) -> None:
    stack = mail_stack
    run_id, actor = await prepare_input(stack.engine, TENANT, PEOPLE, case)
    path = _link(stack, run_id, "form", actor, "input")
    status, text = INPUT_PAGE[case.code]
    async with stack.client() as browser:
        got, page = await get_page(browser, path)
        assert (got, text in page) == (status, True), page
        got, page = await post_form(browser, path, {"ticket": "CHG-2", "csrf": "x"})
        assert (got, text in page) == (status, True), page
    await input_unchanged(stack.engine, TENANT, run_id, case)


SELF_APPROVED = f"""
name: gate-self
steps:
  - id: review
    type: approval
    title: Review
    approvers: ["{PEOPLE.requester}", "{PEOPLE.a}"]
    allow_self_approval: true
"""


async def test_a_link_asks_the_engine_the_question_of_its_action(mail_stack: Stack) -> None:
    """The requester, an approver of a step they may approve themselves: their link decides,
    but asking from it is refused by the ask rule (nobody to ask), before anything is sent."""
    stack = mail_stack
    await stack.engine.apply_definition(TENANT, SELF_APPROVED)
    run = await stack.engine.start_run(TENANT, "gate-self", {}, PEOPLE.requester)
    await stack.engine.run_until_idle()
    path = _link(stack, run.run_id, "review", PEOPLE.requester, "approval")
    async with stack.client() as browser:
        got, page = await get_page(browser, path)
        assert got == 200, page
        got, page = await post_form(browser, f"{path}/ask", {**FORM["ask"], "csrf": "x"})
        assert (got, "there is nobody to ask" in page) == (403, True), page
    state = await stack.engine.get_run(TENANT, run.run_id)
    assert state.steps["review"].status == "waiting" and not state.steps["review"].questions
