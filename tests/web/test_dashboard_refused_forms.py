"""A side form on the run page (delegate, ask, answer, comment, reassign) that is refused comes
back with what was typed in it, the reason beside it and a 4xx status — escaped, never
reflected as markup."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from engine.testing import ManualClock
from storage import Storage
from tests.web.forms import csrf_of, form_fields
from tests.web.support import TENANT, Stack, web_stack
from tests.web.test_dashboard import sign_in
from tests.web.test_dashboard_tasks import BOB, CAROL, REQ, page, start

SCRIPT = "<script>alert('x')</script>"
QUOTE = 'Carol" autofocus onfocus="alert(1)'


async def refused(
    browser: aiohttp.ClientSession, path: str, data: dict[str, str], status: int
) -> str:
    async with browser.post(path, data=data, allow_redirects=False) as r:
        html = await r.text()
        assert r.status == status, (r.status, html)
    assert SCRIPT not in html and QUOTE not in html  # nothing typed comes back as markup
    return html


def error_beside(html: str, form: str) -> str:
    """The error shown inside the form `form` (its id on the page)."""
    start = html.index(f'id="{form}"')
    end = html.index("</form>", start)
    marker = f'id="error-{form}">'
    at = html.find(marker, start, end)
    assert at >= 0, html[start:end]
    return html[at + len(marker) : html.index("</p>", at)]


async def test_a_refused_delegation_keeps_the_person_and_the_reason(stack: Stack) -> None:
    run_id = await start(stack)
    action = f"/runs/{run_id}/steps/manager/delegate"
    async with stack.client() as bob:
        await sign_in(stack, bob, BOB)
        csrf = csrf_of(await page(bob, f"/runs/{run_id}"))
        reason = f"Back Monday {SCRIPT} & more"
        data = {"csrf": csrf, "to": REQ, "reason": reason}
        html = await refused(bob, action, data, 403)  # the requester may not approve
        assert form_fields(html, action) == {"to": REQ, "reason": reason}
        assert "&lt;script&gt;" in html
        assert "requester cannot approve" in error_beside(html, "delegate-manager")
        assert 'id="delegate-manager" open' in html  # the form is shown open, not folded
        assert 'class="error notice" role="alert">' not in html.split('id="act-manager"')[0]

        data = {"csrf": csrf, "to": QUOTE, "reason": ""}  # not a user id nor an address
        html = await refused(bob, action, data, 422)
        assert form_fields(html, action) == {"to": QUOTE, "reason": ""}
        assert "&#34;" in html
        assert "is not a Slack user id" in error_beside(html, "delegate-manager")
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.steps["manager"].approvers == [BOB] and not run.steps["manager"].delegations


async def test_a_refused_comment_question_and_answer_keep_their_text(stack: Stack) -> None:
    run_id = await start(stack)
    comment_action = f"/runs/{run_id}/comments"
    ask_action = f"/runs/{run_id}/steps/manager/ask"
    async with stack.client() as bob:
        await sign_in(stack, bob, BOB)
        csrf = csrf_of(await page(bob, f"/runs/{run_id}"))
        long = SCRIPT + "x" * 4000
        html = await refused(bob, comment_action, {"csrf": csrf, "comment": long}, 422)
        assert form_fields(html, comment_action) == {"comment": long}
        assert "at most 4000 characters" in error_beside(html, "comment")
        assert form_fields(html, ask_action) == {"question": ""}  # other forms stay empty

        html = await refused(bob, ask_action, {"csrf": csrf, "question": "   "}, 422)
        assert "write a question" in error_beside(html, "ask-manager")
        long_question = f"Which {SCRIPT}?" + "?" * 4000
        html = await refused(bob, ask_action, {"csrf": csrf, "question": long_question}, 422)
        assert form_fields(html, ask_action) == {"question": long_question}
        async with bob.post(ask_action, data={"csrf": csrf, "question": "Which CC?"}) as r:
            assert r.status == 200

    async with stack.client() as req:
        await sign_in(stack, req, REQ)
        html = await page(req, f"/runs/{run_id}")
        [qid] = [
            q.id for q in (await stack.engine.get_run(TENANT, run_id)).steps["manager"].questions
        ]
        action = f"/runs/{run_id}/steps/manager/questions/{qid}/answer"
        answer = f"CC-42 {SCRIPT}" + "!" * 4000
        html = await refused(req, action, {"csrf": csrf_of(html), "answer": answer}, 422)
        assert form_fields(html, action) == {"answer": answer}
        assert "at most 4000 characters" in error_beside(html, f"answer-{qid}")
    timeline = await stack.engine.timeline(TENANT, run_id)
    assert not [r for r in timeline if r.event.type in ("comment_added", "question_answered")]


async def test_a_refused_reassignment_keeps_whose_part_and_to_whom(
    storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    async with web_stack(storage, clock, tmp_path, admins=("U0ADMIN",)) as stack:
        run_id = await start(stack)
        action = f"/runs/{run_id}/steps/manager/reassign"
        async with stack.client() as admin:
            await sign_in(stack, admin, "U0ADMIN")
            csrf = csrf_of(await page(admin, f"/runs/{run_id}"))
            data = {"csrf": csrf, "from": BOB, "to": REQ, "reason": SCRIPT}
            html = await refused(admin, action, data, 403)
            assert form_fields(html, action) == {"from": BOB, "to": REQ, "reason": SCRIPT}
            assert "requester cannot approve" in error_beside(html, "reassign-manager")
            data = {"csrf": csrf, "from": BOB, "to": CAROL, "reason": "Bob left"}
            async with admin.post(action, data=data) as r:
                assert r.status == 200
        run = await stack.engine.get_run(TENANT, run_id)
        assert run.steps["manager"].approvers == [CAROL]


async def test_a_refusal_whose_form_is_gone_is_still_said(stack: Stack) -> None:
    run_id = await start(stack)
    async with stack.client() as bob:
        await sign_in(stack, bob, BOB)
        csrf = csrf_of(await page(bob, f"/runs/{run_id}"))
        await stack.engine.decide(TENANT, run_id, "manager", BOB, "approve", {}, channel="api")
        await stack.engine.run_until_idle()
        data = {"csrf": csrf, "to": CAROL, "reason": "late"}
        async with bob.post(f"/runs/{run_id}/steps/manager/delegate", data=data) as r:
            html = await r.text()
            assert r.status == 409, html
        assert 'class="error notice" role="alert">' in html  # at the top: no form to put it by
