"""Input steps and reminders reach email people too."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.mail.conftest import SmtpServer
from tests.web.support import TENANT, Stack

DANA = "dana@example.com"

INPUT_FLOW = f"""
name: change
steps:
  - id: ticket
    type: input
    title: Change ticket
    assignee: "email:{DANA}"
    remind_every: 1h
    fields:
      - id: number
        type: text
        required: true
      - id: risk
        type: select
        options: [low, high]
"""


def form_link(stack: Stack, smtp: SmtpServer, index: int = -1) -> str:
    mail = smtp.inbox.to(DANA)[index]
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(r"(http://countersign\.test/links/\S+)", text)
    assert match, text
    return stack.path(match.group(1))


async def test_an_email_assignee_fills_the_form_and_gets_reminded(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    await stack.apply(INPUT_FLOW)
    run = await stack.engine.start_run(TENANT, "change", {}, "U0REQ")
    await stack.engine.run_until_idle()
    assert "please fill in Change ticket" in smtp.inbox.to(DANA)[0]["Subject"]

    stack.clock.advance(timedelta(hours=1, seconds=1))
    await stack.engine.run_until_idle()
    assert smtp.inbox.to(DANA)[-1]["Subject"].startswith("Reminder:")

    path = form_link(stack, smtp)
    async with stack.client() as browser:
        async with browser.get(path) as r:
            page = await r.text()
            assert r.status == 200 and "Please fill in" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        async with browser.post(path, data={"csrf": csrf, "number": "", "risk": "low"}) as r:
            assert r.status == 422 and "required" in await r.text()
        data = {"csrf": csrf, "number": "CHG-7", "risk": "high"}
        async with browser.post(path, data=data) as r:
            assert r.status == 200 and "recorded" in await r.text()
    await stack.engine.run_until_idle()
    state = await stack.engine.get_run(TENANT, run.run_id)
    assert state.status == "completed"
    assert state.steps["ticket"].output["values"] == {"number": "CHG-7", "risk": "high"}
