"""The dashboard around a waiting step: its SLA clock, delegating, asking the requester,
answering, commenting — all through forms with the session's CSRF token — and the SLA page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from engine.testing import ManualClock
from storage import Storage
from tests.web.forms import csrf_of
from tests.web.support import TENANT, Stack, web_stack
from tests.web.test_dashboard import sign_in
from web.pages import tasks as tasks_pages

BOB = "U0BOB"
CAROL = "U0CAROL"
REQ = "U0REQ"
ALICE = "U0ALICE"

TIMED = """
name: timed
title: Timed approval
steps:
  - id: manager
    type: approval
    approvers: ["U0BOB"]
    remind_every: 2h
    timeout: 1d
    on_timeout: reject
"""


async def start(stack: Stack) -> str:
    await stack.apply(TIMED)
    run = await stack.engine.start_run(TENANT, "timed", {}, REQ)
    await stack.engine.run_until_idle()
    return run.run_id


async def page(browser: aiohttp.ClientSession, path: str) -> str:
    async with browser.get(path) as r:
        assert r.status == 200, await r.text()
        return await r.text()


async def post(
    browser: aiohttp.ClientSession, path: str, data: dict[str, str], status: int | None = 303
) -> str:
    """POST a form; `status` None: any refusal (4xx)."""
    async with browser.post(path, data=data, allow_redirects=False) as r:
        ok = r.status == status if status is not None else 400 <= r.status < 500
        assert ok, (r.status, await r.text())
        return await r.text()


async def test_the_approver_sees_the_clock_asks_and_the_requester_answers(stack: Stack) -> None:
    run_id = await start(stack)
    stack.clock.advance(timedelta(minutes=90))
    async with stack.client() as bob:
        await sign_in(stack, bob, BOB)
        home = await page(bob, "/")  # "waiting on me" shows each task's clock
        assert "Waiting for 1h30m" in home and "Next reminder in 30m" in home
        html = await page(bob, f"/runs/{run_id}")
        assert "Waiting for 1h30m" in html
        assert "Next reminder in 30m" in html and "Times out in 22h30m" in html
        assert "Delegate" in html and "Ask U0REQ for more information" in html

        csrf = csrf_of(html)
        ask = f"/runs/{run_id}/steps/manager/ask"
        await post(bob, ask, {"csrf": "forged", "question": "?"}, 403)
        await post(bob, ask, {"csrf": csrf, "question": ""}, 422)
        await post(bob, ask, {"csrf": csrf, "question": "Which CC?"})
        html = await page(bob, f"/runs/{run_id}")
        assert "paused while a question is open" in html
        assert "Which CC?" in html and "waiting for an answer" in html

    async with stack.client() as req:
        await sign_in(stack, req, REQ)
        home = await page(req, "/")
        assert "Questions for me" in home and "Which CC?" in home
        html = await page(req, f"/runs/{run_id}")
        action = re.search(r'action="(/runs/[^"]+/answer)"', html)
        assert action, html
        await post(req, action.group(1), {"csrf": csrf_of(html), "answer": "CC-42"})
        await post(req, f"/runs/{run_id}/comments", {"csrf": csrf_of(html), "comment": "Thanks!"})

    async with stack.client() as bob:
        await sign_in(stack, bob, BOB)
        html = await page(bob, f"/runs/{run_id}")
        assert "CC-42" in html and "Thanks!" in html
        assert "paused while a question is open" not in html


async def test_delegating_from_the_run_page_moves_the_task(stack: Stack) -> None:
    run_id = await start(stack)
    async with stack.client() as bob:
        await sign_in(stack, bob, BOB)
        html = await page(bob, f"/runs/{run_id}")
        path = f"/runs/{run_id}/steps/manager/delegate"
        html = await post(bob, path, {"csrf": csrf_of(html), "to": BOB}, None)
        assert 'role="alert"' in html  # delegating to oneself is refused, the page says why
        data = {"csrf": csrf_of(html), "to": "carol@example.com", "reason": "Carol owns it"}
        await post(bob, path, data)
        html = await page(bob, f"/runs/{run_id}")
        assert "Your decision on" not in html  # no longer Bob's
        assert "delegated to email:carol@example.com: “Carol owns it”" in html
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.steps["manager"].approvers == ["email:carol@example.com"]


async def test_the_sla_page_lists_pending_tasks_longest_waiting_first(stack: Stack) -> None:
    first = await start(stack)
    stack.clock.advance(timedelta(hours=1))
    second = (await stack.engine.start_run(TENANT, "timed", {}, REQ)).run_id
    await stack.engine.run_until_idle()
    stack.clock.advance(timedelta(minutes=5))
    async with stack.client() as alice:
        await sign_in(stack, alice, "U0ALICE")
        html = await page(alice, "/sla")
    order = re.findall(r'data-run="([^"]+)"', html)
    assert order == [first, second]
    assert "1h5m" in html and "5m" in html
    assert "times out in 22h55m" in html


async def test_the_sla_page_shows_a_page_at_a_time_with_counts_over_all_of_them(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_pages, "SLA_PAGE", 2)  # pages of 2 rather than 100
    await stack.apply(TIMED.replace("name: timed", "name: slow").replace("1d", "7d"))
    runs = []
    for day in range(3):
        stack.clock.advance(timedelta(days=1 if day else 0))
        runs.append((await stack.engine.start_run(TENANT, "slow", {}, REQ)).run_id)
        await stack.engine.run_until_idle()
    stack.clock.advance(timedelta(hours=1))
    for viewer, path in ((ALICE, "/sla"), (BOB, "/sla?mine=1")):
        async with stack.client() as browser:
            await sign_in(stack, browser, viewer)
            html = await page(browser, path)
            assert re.findall(r'data-run="([^"]+)"', html) == runs[:2]
            # Counted over every task, not the page: 3 waiting, 2 for over a day.
            assert "<strong>3</strong> waiting, <strong>2</strong> of them for over 1d" in html
            assert "the oldest for 2d1h" in html
            [more] = re.findall(r'<a href="([^"]+)" rel="next">', html)
            assert ("mine=1" in more) == ("mine=1" in path)
            html = await page(browser, more.replace("&amp;", "&"))
            assert re.findall(r'data-run="([^"]+)"', html) == runs[2:]
            assert 'rel="next"' not in html and "<strong>3</strong> waiting" in html
            html = await page(browser, "/sla?cursor=garbled")  # a damaged link: the first page
            assert re.findall(r'data-run="([^"]+)"', html) == runs[:2]


async def test_an_email_person_sees_only_their_own_tasks_on_the_sla_page(stack: Stack) -> None:
    mine = await start(stack)
    await stack.apply(TIMED.replace("timed", "other").replace('"U0BOB"', '"email:e@x.com"'))
    theirs = (await stack.engine.start_run(TENANT, "other", {}, REQ)).run_id
    await stack.engine.run_until_idle()
    async with stack.client() as outsider:
        await sign_in(stack, outsider, "email:e@x.com")
        html = await page(outsider, "/sla")
        assert re.findall(r'data-run="([^"]+)"', html) == [theirs]
        assert mine not in html and "My pending tasks" in html
        async with outsider.get(f"/runs/{mine}") as r:
            assert r.status == 404  # nor can they open the run


async def test_an_admin_reassigns_from_the_run_page_others_cannot(
    storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    async with web_stack(storage, clock, tmp_path, admins=("U0ADMIN",)) as stack:
        run_id = await start(stack)
        path = f"/runs/{run_id}/steps/manager/reassign"
        async with stack.client() as carol:
            await sign_in(stack, carol, CAROL)
            html = await page(carol, f"/runs/{run_id}")
            assert "Reassign step" not in html
            await post(carol, path, {"csrf": csrf_of(html), "from": BOB, "to": CAROL}, 403)
        async with stack.client() as admin:
            await sign_in(stack, admin, "U0ADMIN")
            html = await page(admin, f"/runs/{run_id}")
            assert "Reassign step manager (admin)" in html
            data = {"csrf": csrf_of(html), "from": BOB, "to": CAROL, "reason": "Bob left"}
            await post(admin, path, data)
            html = await page(admin, f"/runs/{run_id}")
            assert f"reassigned from {BOB} to {CAROL} by U0ADMIN" in html
        run = await stack.engine.get_run(TENANT, run_id)
        assert run.steps["manager"].approvers == [CAROL]
        [handed] = run.steps["manager"].delegations
        assert (handed.kind, handed.by, handed.reason) == ("reassign", "U0ADMIN", "Bob left")
