"""Reminders, escalation, delegation, out-of-office and questions reach email people over real
SMTP: short reminders that keep working links, escalated and delegated mails that say why they
came, and a question answered through a signed, single-use link (GET changes nothing)."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import aiohttp

from tests.mail.conftest import SmtpServer
from tests.web.forms import csrf_of, form_fields
from tests.web.support import TENANT, Stack, approval_flow

BOB = "bob@example.com"
CAROL = "carol@example.com"
LEAD = "lead@example.com"
REQ = "req@example.com"

ESCALATING = f"""
name: purchase
title: Purchase approval
inputs:
  - id: item
    type: text
    required: true
steps:
  - id: manager
    type: approval
    title: Manager approval
    approvers: ["email:{BOB}"]
    message: "Please approve {{{{ inputs.item }}}}"
    remind_every: 1h
    max_reminders: 1
    timeout: 3h
    on_timeout: escalate
    escalate_to: [["email:{LEAD}"]]
"""


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, name: str) -> str:
    match = re.search(rf"^{name}:[ \t]+(\S+)", text_of(message), re.MULTILINE)
    assert match, text_of(message)
    return match.group(1)


def answer_link(message: EmailMessage) -> str:
    match = re.search(r"(http://countersign\.test/answers/\S+)", text_of(message))
    assert match, text_of(message)
    return match.group(1)


async def approve_through(stack: Stack, url: str) -> None:
    path = stack.path(url)
    async with stack.client() as browser:
        async with browser.get(path) as r:
            page = await r.text()
            assert r.status == 200, page
        data = {"csrf": csrf_of(page), "decision": "approve"}
        async with browser.post(path, data=data) as r:
            assert r.status == 200 and "You approved" in await r.text()


async def test_reminder_is_short_then_escalation_says_why_and_how_long(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(ESCALATING)
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "a desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    [first] = smtp.inbox.to(BOB)
    assert "Please approve a desk" in text_of(first)

    stack.clock.advance(timedelta(hours=1, seconds=1))
    await stack.engine.run_until_idle()
    [_, reminder] = smtp.inbox.to(BOB)
    body = text_of(reminder)
    assert reminder["Subject"].startswith("Reminder: Purchase approval")
    assert "still waits for you" in body and "waited 1h" in body
    assert "emailed to you earlier" in body
    assert "Please approve a desk" not in body  # short: it refers to the request, no copy
    assert link(reminder, "Approve").startswith("http://countersign.test/links/")

    stack.clock.advance(timedelta(hours=2))
    await stack.engine.run_until_idle()
    [escalated] = smtp.inbox.to(LEAD)
    body = text_of(escalated)
    assert escalated["Subject"].startswith("Escalated: Purchase approval")
    assert "escalated to you (level 1)" in body
    assert BOB in body  # whose time ran out
    assert "waited 3h" in body
    assert "Please approve a desk" in body  # the full request: the lead sees it the first time
    moved = smtp.inbox.to(BOB)[-1]  # Bob's links stop working: he is told why
    assert "no longer waits for you" in moved["Subject"]
    assert f"It was escalated to email:{LEAD}" in text_of(moved)

    await approve_through(stack, link(escalated, "Approve"))
    await stack.engine.run_until_idle()
    state = await stack.engine.get_run(TENANT, run.run_id)
    assert state.status == "completed"
    assert [v.actor for v in state.steps["manager"].votes] == [f"email:{LEAD}"]


async def test_a_delegated_request_says_who_handed_it_over_and_the_old_link_stops(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(approval_flow(f"email:{BOB}"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    [to_bob] = smtp.inbox.to(BOB)

    await stack.engine.delegate(
        TENANT, run.run_id, "manager", f"email:{BOB}", f"email:{CAROL}", reason="on leave"
    )
    await stack.engine.run_until_idle()
    [to_carol] = smtp.inbox.to(CAROL)
    assert to_carol["Subject"].startswith("Delegated: Purchase approval")
    assert f"delegated to you by email:{BOB}" in text_of(to_carol)

    async with stack.client() as browser, browser.get(stack.path(link(to_bob, "Approve"))) as r:
        page = await r.text()
        assert r.status == 403 and "not for you" in page  # bob handed it on
        assert f"It was delegated to email:{CAROL} by email:{BOB}" in page
    await approve_through(stack, link(to_carol, "Approve"))
    await stack.engine.run_until_idle()
    state = await stack.engine.get_run(TENANT, run.run_id)
    assert state.steps["manager"].outcome == "approved"


async def test_out_of_office_sends_new_requests_to_the_delegate_marked_as_such(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    now = stack.clock.now()
    await stack.engine.set_away(
        TENANT, f"email:{BOB}", f"email:{CAROL}", until=now + timedelta(days=7)
    )
    await stack.apply(approval_flow(f"email:{BOB}"))
    await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    assert smtp.inbox.to(BOB) == []
    [to_carol] = smtp.inbox.to(CAROL)
    assert f"for email:{BOB}, who is away" in text_of(to_carol)


async def test_an_email_requester_answers_a_question_through_a_single_use_link(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(approval_flow("U0BOB"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, f"email:{REQ}")
    await stack.engine.run_until_idle()
    await stack.engine.ask(TENANT, run.run_id, "manager", "U0BOB", "Which cost centre?")
    await stack.engine.run_until_idle()
    [question] = smtp.inbox.to(REQ)
    assert "a question about your request" in question["Subject"]
    assert "Which cost centre?" in text_of(question)
    path = stack.path(answer_link(question))

    async with stack.client() as browser:
        for _ in range(2):  # a mail scanner prefetching the link changes nothing
            async with browser.get(path) as r:
                page = await r.text()
                assert r.status == 200 and "Which cost centre?" in page
        state = await stack.engine.get_run(TENANT, run.run_id)
        assert state.steps["manager"].questions[0].answer is None

        forged = {"csrf": csrf_of(page), "answer": "x"}
        async with (
            aiohttp.ClientSession(base_url=stack.web.url) as other_site,  # no CSRF cookie
            other_site.post(path, data=forged) as r,
        ):
            assert r.status == 403
        async with browser.post(path, data={"csrf": csrf_of(page), "answer": "  "}) as r:
            assert r.status == 422 and "Write an answer" in await r.text()
        async with browser.post(path, data={"csrf": csrf_of(page), "answer": "CC-42"}) as r:
            assert r.status == 200 and "your answer was sent" in await r.text()
        async with browser.post(path, data={"csrf": csrf_of(page), "answer": "again"}) as r:
            assert r.status == 409 and "already used" in await r.text()
        async with browser.get(path[:-6] + "AAAAAA") as r:
            assert r.status == 400 and "damaged" in await r.text()

    state = await stack.engine.get_run(TENANT, run.run_id)
    [q] = state.steps["manager"].questions
    assert (q.answer, q.answered_by) == ("CC-42", f"email:{REQ}")


async def test_the_email_approver_who_asked_gets_the_answer_with_links_to_decide(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(approval_flow(f"email:{BOB}"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    state = await stack.engine.ask(TENANT, run.run_id, "manager", f"email:{BOB}", "Which desk?")
    [q] = state.steps["manager"].questions
    await stack.engine.answer(TENANT, run.run_id, "manager", q.id, "U0REQ", "The oak one")
    await stack.engine.run_until_idle()
    answered = smtp.inbox.to(BOB)[-1]
    body = text_of(answered)
    assert "your question was answered" in answered["Subject"]
    assert "Q: Which desk?" in body and "A: The oak one" in body

    await approve_through(stack, link(answered, "Approve"))
    await stack.engine.run_until_idle()
    assert (await stack.engine.get_run(TENANT, run.run_id)).steps["manager"].outcome == "approved"


async def bobs_request(stack: Stack, smtp: SmtpServer) -> tuple[str, str]:
    """A purchase by the email requester waiting on email approver Bob: the run id and the
    path of the form link in Bob's mail."""
    await stack.apply(approval_flow(f"email:{BOB}"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, f"email:{REQ}")
    await stack.engine.run_until_idle()
    [request] = smtp.inbox.to(BOB)
    return run.run_id, stack.path(link(request, "Form"))


async def test_an_email_approver_asks_and_delegates_from_the_link_page(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id, form = await bobs_request(stack, smtp)

    async with stack.client() as browser:
        async with browser.get(form) as r:
            page = await r.text()
            assert r.status == 200 and "Hand it to someone else" in page
        async with browser.post(f"{form}/ask", data={"question": "Which desk?"}) as r:
            assert r.status == 403  # no CSRF token: nothing asked
        data = {"csrf": csrf_of(page), "question": "Which desk?"}
        async with browser.post(f"{form}/ask", data=data) as r:
            assert r.status == 200 and f"sent to email:{REQ}" in await r.text()
        await stack.engine.run_until_idle()
        [question] = smtp.inbox.to(REQ)
        assert "Which desk?" in text_of(question)

        async with browser.get(form) as r:  # asking did not spend the link
            assert r.status == 200
        data = {"csrf": csrf_of(page), "to": CAROL, "reason": "Carol buys desks"}
        async with browser.post(f"{form}/delegate", data=data) as r:
            assert r.status == 200 and f"to email:{CAROL}" in await r.text()
        async with browser.get(form) as r:
            assert r.status == 409 and "already used" in await r.text()

    await stack.engine.run_until_idle()
    [to_carol] = smtp.inbox.to(CAROL)
    assert f"delegated to you by email:{BOB}" in text_of(to_carol)
    state = await stack.engine.get_run(TENANT, run_id)
    [handed] = state.steps["manager"].delegations
    assert (handed.from_, handed.to, handed.kind) == (f"email:{BOB}", f"email:{CAROL}", "delegate")


async def test_an_admin_reassignment_tells_the_email_approver_it_moved_away(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(approval_flow(f"email:{BOB}"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    await stack.engine.delegate(
        TENANT,
        run.run_id,
        "manager",
        "U0ADMIN",
        f"email:{CAROL}",
        admin=True,
        reassign=True,
        channel="cli",
    )
    await stack.engine.run_until_idle()
    [_, moved] = smtp.inbox.to(BOB)
    assert f"U0ADMIN reassigned it to email:{CAROL}" in text_of(moved)
    [to_carol] = smtp.inbox.to(CAROL)
    assert f"reassigned to you from email:{BOB} by U0ADMIN" in text_of(to_carol)


async def test_a_refused_delegate_or_ask_on_the_link_page_keeps_what_was_typed(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id, form = await bobs_request(stack, smtp)
    script = "<script>alert('x')</script>"

    async with stack.client() as browser:
        async with browser.get(form) as r:
            csrf = csrf_of(await r.text())
        data = {"csrf": csrf, "to": REQ, "reason": f"Ask {script}"}
        async with browser.post(f"{form}/delegate", data=data) as r:
            page = await r.text()
            assert r.status == 422, page  # the requester may not approve their own request
        assert form_fields(page, f"{form}/delegate") == {"to": REQ, "reason": f"Ask {script}"}
        assert script not in page and "&lt;script&gt;" in page
        assert 'id="delegate" open' in page and 'id="error-delegate"' in page

        question = f"Which {script}?" + "?" * 4000
        async with browser.post(f"{form}/ask", data={"csrf": csrf, "question": question}) as r:
            page = await r.text()
            assert r.status == 422, page
        assert form_fields(page, f"{form}/ask") == {"question": question}
        assert script not in page and "At most 4000 characters" in page

        async with browser.get(form) as r:  # neither spent the link
            assert r.status == 200
    state = await stack.engine.get_run(TENANT, run_id)
    assert state.steps["manager"].approvers == [f"email:{BOB}"]
    assert not state.steps["manager"].questions
