"""What an email approver reads: the run's summary in the subject, the step message's Slack
formatting rendered (HTML) or dropped (text), inputs by their labels, a title rendered like the
message, and a link page that says what the decision did to the run."""

from __future__ import annotations

from tests.mail.conftest import SmtpServer
from tests.mail.test_email_approvals import BOB, get_page, links, post_form
from tests.web.forms import csrf_of
from tests.web.support import TENANT, Stack

FLOW = f"""
name: vendor-onboarding
title: Vendor onboarding
summary: "{{{{ inputs.vendor }}}}, {{{{ inputs.amount }}}} EUR"
inputs:
  - {{id: vendor, type: text, label: Vendor name, required: true}}
  - {{id: amount, type: number, label: Yearly amount, required: true}}
  - {{id: note, type: text}}
steps:
  - id: legal
    type: approval
    title: "Legal review of {{{{ inputs.vendor }}}}"
    approvers: ["email:{BOB}"]
    message: "Onboard *{{{{ inputs.vendor }}}}* (see <https://w.example/v?id=1&amp;x=2|the file>)"
    fields:
      - {{id: reason, type: text, required_on: reject}}
  - id: book
    type: notify
    to: requester
    message: "done"
"""


async def test_the_request_mail_and_link_page_read_as_written(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(FLOW)
    inputs = {"vendor": "Globex Corp", "amount": 1200}
    run = await stack.engine.start_run(TENANT, "vendor-onboarding", inputs, "U0REQ")
    await stack.engine.run_until_idle()
    [mail] = smtp.inbox.to(BOB)
    subject = mail["Subject"]
    assert "Legal review of Globex Corp" in subject and "{{" not in subject
    assert subject.endswith("· Globex Corp, 1200 EUR")
    html = mail.get_body(preferencelist=("html",))
    text = mail.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    body, plain = html.get_content(), text.get_content()
    assert "Onboard <strong>Globex Corp</strong>" in body
    assert '<a href="https://w.example/v?id=1&amp;x=2">the file</a>' in body
    assert "Onboard Globex Corp (see the file (https://w.example/v?id=1&x=2))" in plain
    assert "*" not in plain.split("Approve:")[0]
    assert "Vendor name</td>" in body and "Yearly amount: 1200" in plain
    assert ">vendor<" not in body and "  vendor:" not in plain

    reject = stack.path(links(mail)["reject"])
    async with stack.client() as browser:
        status, page = await get_page(browser, reject)
        assert status == 200
        assert "Your decision: Legal review of Globex Corp" in page
        assert "Onboard <strong>Globex Corp</strong>" in page and "*Globex" not in page
        assert "<dt>Vendor name</dt><dd>Globex Corp</dd>" in page
        assert "<dt>note</dt>" not in page  # not given: not listed
        data = {"csrf": csrf_of(page), "decision": "reject", "reason": "no contract"}
        status, page = await post_form(browser, reject, data)
    assert status == 200, page
    assert "You rejected “Legal review of Globex Corp”" in page
    assert "continues on its own" not in page
    assert "The run has ended (rejected" in page
    assert (await stack.engine.get_run(TENANT, run.run_id)).status == "rejected"
