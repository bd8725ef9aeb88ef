"""Email approvers: the mail arrives over real SMTP, its links open a form (GET changes
nothing), a POST decides once, and bad links say exactly what is wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import aiohttp

from engine.commands import RequestApproval, UpdateApproval
from engine.ports import Failed, Succeeded
from tests.mail.conftest import SmtpServer
from tests.web.forms import csrf_of
from tests.web.support import TENANT, Stack, approval_flow
from web.links import ApprovalClaims

BOB = "bob@example.com"
APPROVER = f"email:{BOB}"


def links(message: EmailMessage) -> dict[str, str]:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    found = {
        name.lower(): url
        for name, url in re.findall(r"^(Approve|Reject|Form):[ \t]+(\S+)", text, re.MULTILINE)
    }
    assert set(found) == {"approve", "reject", "form"}, text
    return found


async def start_run(stack: Stack, item: str = "desk") -> str:
    await stack.apply(approval_flow(APPROVER))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": item, "amount": 99}, "U0REQ")
    await stack.engine.run_until_idle()
    return run.run_id


async def get_page(http: aiohttp.ClientSession, path: str) -> tuple[int, str]:
    async with http.get(path) as r:
        return r.status, await r.text()


async def post_form(
    http: aiohttp.ClientSession, path: str, data: dict[str, str]
) -> tuple[int, str]:
    async with http.post(path, data=data) as r:
        return r.status, await r.text()


async def test_email_approver_decides_through_the_link_and_the_run_resumes(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    [mail] = smtp.inbox.to(BOB)
    assert "approval needed" in mail["Subject"]
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and "Please approve desk for 99" in html.get_content()
    approve = stack.path(links(mail)["approve"])

    async with stack.client() as browser:
        for _ in range(2):  # a mail scanner prefetching the link changes nothing
            status, page = await get_page(browser, approve)
            assert status == 200
            assert "Please approve desk for 99" in page and "Approve" in page
        run = await stack.engine.get_run(TENANT, run_id)
        assert run.steps["manager"].status == "waiting" and run.steps["manager"].votes == []

        status, page = await post_form(
            browser, approve, {"csrf": csrf_of(page), "decision": "approve", "comment": ""}
        )
        assert status == 200, page
        assert "You approved" in page
    await stack.engine.run_until_idle()
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.status == "completed"
    events = await stack.engine.timeline(TENANT, run_id)
    decided = [e.event for e in events if e.event.type == "decision_recorded"]
    assert [(d.actor, d.channel) for d in decided] == [(APPROVER, "email")]
    [outcome] = [m for m in smtp.inbox.to(BOB) if m is not mail]  # exactly one outcome mail
    assert "step manager was approved" in outcome["Subject"]


async def test_a_used_link_is_refused_and_changes_nothing(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    urls = links(smtp.inbox.to(BOB)[0])
    async with stack.client() as browser:
        _, page = await get_page(browser, stack.path(urls["approve"]))
        status, _ = await post_form(
            browser, stack.path(urls["approve"]), {"csrf": csrf_of(page), "decision": "approve"}
        )
        assert status == 200
        seq = (await stack.engine.get_run(TENANT, run_id)).seq
        for url in (urls["approve"], urls["reject"], urls["form"]):
            status, page = await get_page(browser, stack.path(url))
            assert status == 409 and "already used" in page and "Nothing was changed" in page
        form = {"csrf": "x", "decision": "reject", "comment": "no"}
        status, page = await post_form(browser, stack.path(urls["reject"]), form)
        assert status == 409 and "already used" in page
    assert (await stack.engine.get_run(TENANT, run_id)).seq == seq


async def test_an_expired_link_is_refused(mail_stack: Stack, smtp: SmtpServer) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    approve = stack.path(links(smtp.inbox.to(BOB)[0])["approve"])
    stack.clock.advance(stack.config.link_ttl + timedelta(seconds=1))
    async with stack.client() as browser:
        status, page = await get_page(browser, approve)
        assert status == 410 and "expired" in page and "Nothing was changed" in page
        status, page = await post_form(browser, approve, {"csrf": "x", "decision": "approve"})
        assert status == 410
    assert (await stack.engine.get_run(TENANT, run_id)).steps["manager"].votes == []


async def test_a_tampered_link_is_refused(mail_stack: Stack, smtp: SmtpServer) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    approve = stack.path(links(smtp.inbox.to(BOB)[0])["approve"])
    token = approve.split("/links/", 1)[1].split("?", 1)[0]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    async with stack.client() as browser:
        for path in (f"/links/{forged}", f"/links/{token[:20]}", "/links/garbage"):
            status, page = await get_page(browser, path)
            assert status == 400 and "damaged" in page
            status, page = await post_form(browser, path, {"csrf": "x", "decision": "approve"})
            assert status == 400
    assert (await stack.engine.get_run(TENANT, run_id)).steps["manager"].votes == []


async def test_a_link_for_someone_who_is_not_an_approver_is_refused(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    foreign = ApprovalClaims(
        tenant_id=TENANT,
        run_id=run_id,
        step_id="manager",
        principal="email:mallory@example.com",
        kind="approval",
        nonce="n" * 32,
        expires_at=stack.clock.now() + timedelta(days=1),
    )
    path = stack.path(stack.web.signer.approval_url(foreign, "approve"))
    async with stack.client() as browser:
        status, page = await get_page(browser, path)
        assert status == 403 and "not for you" in page
    assert (await stack.engine.get_run(TENANT, run_id)).steps["manager"].votes == []


async def test_missing_required_field_keeps_the_link_usable(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    reject = stack.path(links(smtp.inbox.to(BOB)[0])["reject"])
    async with stack.client() as browser:
        _, page = await get_page(browser, reject)
        status, page = await post_form(
            browser, reject, {"csrf": csrf_of(page), "decision": "reject", "comment": ""}
        )
        assert status == 422 and "required" in page
        status, page = await post_form(
            browser, reject, {"csrf": csrf_of(page), "decision": "reject", "comment": "too much"}
        )
        assert status == 200 and "You rejected" in page
    await stack.engine.run_until_idle()
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.status == "rejected"
    assert run.steps["manager"].votes[0].fields == {"comment": "too much"}


async def test_a_post_without_the_csrf_token_decides_nothing(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    approve = stack.path(links(smtp.inbox.to(BOB)[0])["approve"])
    async with stack.client() as attacker:  # never loaded the page: no CSRF cookie
        status, _ = await post_form(attacker, approve, {"csrf": "guess", "decision": "approve"})
        assert status == 403
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.steps["manager"].votes == []
    async with stack.client() as browser:  # and the link still works for its owner
        status, _page = await get_page(browser, approve)
        assert status == 200


async def test_mail_waits_in_the_outbox_while_smtp_is_down(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    smtp.stop()
    await start_run(stack)
    assert smtp.inbox.messages == []
    smtp.start()
    stack.clock.advance(timedelta(minutes=5))
    await stack.engine.run_until_idle()
    assert len(smtp.inbox.to(BOB)) == 1


async def test_a_link_opened_while_signed_in_as_someone_else_is_foreign(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    approve = stack.path(links(smtp.inbox.to(BOB)[0])["approve"])
    sign_in = stack.path(stack.web.sign_in_url(TENANT, "U0MALLORY"))
    async with stack.client() as browser:
        _, page = await get_page(browser, sign_in)
        await post_form(browser, sign_in, {"csrf": csrf_of(page)})
        status, page = await get_page(browser, approve)
        assert status == 403 and "not for you" in page and "U0MALLORY" in page
    assert (await stack.engine.get_run(TENANT, run_id)).steps["manager"].votes == []


async def test_a_sign_in_link_by_email_opens_the_dashboard(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.web.email_sign_in(TENANT, APPROVER)
    [mail] = smtp.inbox.to(BOB)
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    url = re.search(r"(http://countersign\.test/signin/\S+)", text).group(1)  # type: ignore[union-attr]
    async with stack.client() as browser:
        _, page = await get_page(browser, stack.path(url))
        status, page = await post_form(browser, stack.path(url), {"csrf": csrf_of(page)})
        assert status == 200 and "Waiting on me" in page and APPROVER in page


async def test_slack_fallback_emails_a_slack_approver_who_then_decides_as_themselves(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(approval_flow("U0CAROL"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    command = RequestApproval(
        key=f"{run.run_id}/manager/request/U0CAROL",
        tenant_id=TENANT,
        run_id=run.run_id,
        step_id="manager",
        approver="U0CAROL",
    )
    outcome = await stack.web.mail.deliver_to(command, "carol@example.com")
    assert isinstance(outcome, Succeeded)
    approve = stack.path(links(smtp.inbox.to("carol@example.com")[0])["approve"])
    async with stack.client() as browser:
        _, page = await get_page(browser, approve)
        status, _ = await post_form(
            browser, approve, {"csrf": csrf_of(page), "decision": "approve"}
        )
        assert status == 200
    state = await stack.engine.get_run(TENANT, run.run_id)
    [vote] = state.steps["manager"].votes
    assert (vote.actor, vote.channel) == ("U0CAROL", "email")


async def test_a_default_decision_on_timeout_is_mailed_as_the_systems_with_why(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    flow = approval_flow(APPROVER).replace(
        "    fields:\n", "    timeout: 1h\n    on_timeout: reject\n    fields:\n", 1
    )
    await stack.apply(flow)
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk", "amount": 9}, "U0REQ")
    await stack.engine.run_until_idle()
    stack.clock.advance(timedelta(hours=1, seconds=1))
    await stack.engine.run_until_idle()
    assert (await stack.engine.get_run(TENANT, run.run_id)).status == "rejected"
    outcome = next(m for m in smtp.inbox.to(BOB) if "was rejected" in m["Subject"])
    for kind in ("plain", "html"):
        part = outcome.get_body(preferencelist=(kind,))
        assert part is not None
        assert "the system rejected: no decision within 1h" in part.get_content()


async def test_slack_fallback_of_a_command_with_no_email_fails_and_sends_nothing(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    """A card update has no email: the fallback answers Failed (no exception) and mails nobody."""
    stack = mail_stack
    await stack.apply(approval_flow("U0CAROL"))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0REQ")
    await stack.engine.run_until_idle()
    command = UpdateApproval(
        key=f"{run.run_id}/manager/update", tenant_id=TENANT, run_id=run.run_id, step_id="manager"
    )
    outcome = await stack.web.mail.deliver_to(command, "carol@example.com")
    assert outcome == Failed("cannot deliver update_approval by email")
    assert smtp.inbox.to("carol@example.com") == []
