"""An email approver's form with text no field may hold: refused naming the field, the link
still usable, nothing recorded (on SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.mail.conftest import SmtpServer
from tests.mail.test_email_approvals import BOB, get_page, links, post_form, start_run
from tests.web.forms import csrf_of
from tests.web.support import TENANT, Stack


async def test_a_nul_in_a_link_form_is_refused_and_the_link_stays_usable(
    mail_stack: Stack, smtp: SmtpServer
) -> None:
    stack = mail_stack
    run_id = await start_run(stack)
    reject = stack.path(links(smtp.inbox.to(BOB)[0])["reject"])
    async with stack.client() as browser:
        _, page = await get_page(browser, reject)
        form = {"csrf": csrf_of(page), "decision": "reject", "comment": "too\x00much"}
        status, page = await post_form(browser, reject, form)
        assert status == 422 and "NUL character" in page and "comment" in page
        assert (await stack.engine.get_run(TENANT, run_id)).steps["manager"].votes == []
        form = {"csrf": csrf_of(page), "decision": "reject", "comment": "too much"}
        status, page = await post_form(browser, reject, form)
        assert status == 200 and "You rejected" in page
