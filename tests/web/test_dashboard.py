"""Sign-in by one-time link, the dashboard pages and deciding from the run page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp

from engine.testing import ManualClock
from storage import Storage
from tests.web.forms import csrf_of
from tests.web.support import OTHER_TENANT, TENANT, Stack, approval_flow, web_stack

ALICE = "U0ALICE"


async def sign_in(stack: Stack, browser: aiohttp.ClientSession, principal: str = ALICE) -> None:
    path = stack.path(stack.web.sign_in_url(TENANT, principal))
    async with browser.get(path) as r:
        assert r.status == 200
        page = await r.text()
    async with browser.post(path, data={"csrf": csrf_of(page)}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"


async def test_sign_in_link_works_once_and_gives_a_scoped_session(stack: Stack) -> None:
    path = stack.path(stack.web.sign_in_url(TENANT, ALICE))
    async with stack.client() as browser:
        async with browser.get("/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/signin"
        for _ in range(2):  # unfurlers and scanners GET the link: it stays usable
            async with browser.get(path) as r:
                page = await r.text()
                assert r.status == 200 and "Continue" in page
        async with browser.post(path, data={"csrf": csrf_of(page)}, allow_redirects=False) as r:
            assert r.status == 303
            cookie = r.cookies["cs_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        async with browser.get("/") as r:
            assert r.status == 200 and ALICE in await r.text()
        async with browser.post(path, data={"csrf": csrf_of(page)}) as r:
            assert r.status == 409 and "already used" in await r.text()


async def test_sign_in_links_expire_and_refuse_tampering(stack: Stack) -> None:
    path = stack.path(stack.web.sign_in_url(TENANT, ALICE))
    async with stack.client() as browser:
        async with browser.get(path[:-4] + "AAAA") as r:
            assert r.status == 400 and "damaged" in await r.text()
        stack.clock.advance(stack.config.sign_in_ttl + timedelta(seconds=1))
        async with browser.get(path) as r:
            assert r.status == 410 and "expired" in await r.text()


async def test_session_cookie_is_secure_behind_https(
    storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    async with web_stack(storage, clock, tmp_path, public_url="https://cs.example.com") as stack:
        path = stack.path(stack.web.sign_in_url(TENANT, ALICE))
        async with stack.client() as browser:
            async with browser.get(path) as r:
                page = await r.text()
            data = {"csrf": csrf_of(page)}
            async with browser.post(path, data=data, allow_redirects=False) as r:
                assert r.status == 403  # the CSRF cookie is Secure: not sent back over http
            assert r.cookies["cs_link_csrf"]["secure"]


async def test_waiting_on_me_run_page_and_deciding_from_the_form(stack: Stack) -> None:
    await stack.apply(approval_flow(ALICE))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "lamp"}, "U0BOB")
    await stack.engine.run_until_idle()
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get("/") as r:
            home = await r.text()
        assert f"/runs/{run.run_id}#step-manager" in home
        async with browser.get(f"/runs/{run.run_id}") as r:
            page = await r.text()
        assert "Your decision on" in page and "Please approve lamp" in page
        assert "Definition version 1" in page
        assert "U0BOB started purchase v1" in page

        action = f"/runs/{run.run_id}/steps/manager/decide"
        async with browser.post(action, data={"decision": "approve", "csrf": "forged"}) as r:
            assert r.status == 403
        async with browser.post(
            action, data={"decision": "reject", "csrf": csrf_of(page), "comment": ""}
        ) as r:
            assert r.status == 422 and "required" in await r.text()
        async with browser.post(
            action, data={"decision": "approve", "csrf": csrf_of(page)}, allow_redirects=False
        ) as r:
            assert r.status == 303
        await stack.engine.run_until_idle()
        async with browser.get(f"/runs/{run.run_id}") as r:
            page = await r.text()
        assert f"{ALICE} approved step manager via web" in page
        assert "run completed" in page
        data = {"decision": "reject", "csrf": csrf_of(page), "comment": "oops"}
        async with browser.post(action, data=data) as r:
            assert r.status == 409  # decided already: a clear notice, nothing changes
            assert "You already approved this step; nothing changed." in await r.text()


async def test_runs_list_filters_and_tenant_scoping(stack: Stack) -> None:
    await stack.apply(approval_flow(ALICE))
    await stack.apply(approval_flow(ALICE), tenant=OTHER_TENANT)
    mine = await stack.engine.start_run(TENANT, "purchase", {"item": "a"}, "U0BOB")
    theirs = await stack.engine.start_run(OTHER_TENANT, "purchase", {"item": "b"}, "U0BOB")
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get("/runs?status=running&workflow=purchase") as r:
            page = await r.text()
        assert mine.run_id in page and theirs.run_id not in page
        async with browser.get("/runs?status=completed") as r:
            assert mine.run_id not in await r.text()
        async with browser.get(f"/runs/{theirs.run_id}") as r:
            assert r.status == 404


async def test_email_people_only_see_runs_they_take_part_in(stack: Stack) -> None:
    await stack.apply(approval_flow("email:eve@example.com"))
    involved = await stack.engine.start_run(TENANT, "purchase", {"item": "a"}, "U0BOB")
    await stack.engine.apply_definition(TENANT, approval_flow(ALICE))
    other = await stack.engine.start_run(TENANT, "purchase", {"item": "b"}, "U0BOB")
    await stack.engine.run_until_idle()  # an address is looked up (Slack may know the person)
    async with stack.client() as browser:
        await sign_in(stack, browser, "email:eve@example.com")
        async with browser.get(f"/runs/{involved.run_id}") as r:
            assert r.status == 200
        async with browser.get(f"/runs/{other.run_id}") as r:
            assert r.status == 404


async def test_sign_out_ends_the_session(stack: Stack) -> None:
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get("/") as r:
            page = await r.text()
        async with browser.post(
            "/signout", data={"csrf": csrf_of(page)}, allow_redirects=False
        ) as r:
            assert r.status == 303
        async with browser.get("/", allow_redirects=False) as r:
            assert r.status == 303


async def test_health_readiness_and_metrics(stack: Stack) -> None:
    await stack.apply(approval_flow(ALICE))
    await stack.engine.start_run(TENANT, "purchase", {"item": "a"}, "U0BOB")
    decided = await stack.engine.start_run(TENANT, "purchase", {"item": "b"}, "U0BOB")
    await stack.engine.decide(TENANT, decided.run_id, "manager", ALICE, "approve", channel="slack")
    async with stack.client() as http:
        async with http.get("/healthz") as r:
            assert r.status == 200
        async with http.get("/readyz") as r:
            assert r.status == 200 and (await r.json())["database"] == "current"
        async with http.get("/metrics") as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await r.text()
    assert 'countersign_runs{status="running"} 2' in text
    assert "countersign_pending_human_tasks 1" in text
    assert "countersign_outbox_open_commands" in text
    assert "countersign_timer_lag_seconds 0" in text
    assert "countersign_decision_latency_seconds_count 1" in text  # any channel counts


INPUT_FLOW = f"""
name: change
steps:
  - id: ticket
    type: input
    assignee: {ALICE}
    fields:
      - id: number
        type: text
        required: true
      - id: teams
        type: multiselect
        options: [web, api]
      - id: urgent
        type: checkbox
"""


async def test_filling_an_input_step_from_the_run_page(stack: Stack) -> None:
    await stack.apply(INPUT_FLOW)
    run = await stack.engine.start_run(TENANT, "change", {}, "U0BOB")
    await stack.engine.run_until_idle()
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get(f"/runs/{run.run_id}") as r:
            page = await r.text()
        assert "Fill in: ticket" in page
        action = f"/runs/{run.run_id}/steps/ticket/input"
        data = [("csrf", csrf_of(page)), ("number", "CHG-1"), ("teams", "web"), ("teams", "api")]
        data.append(("urgent", "on"))
        async with browser.post(action, data=data, allow_redirects=False) as r:
            assert r.status == 303
    await stack.engine.run_until_idle()
    state = await stack.engine.get_run(TENANT, run.run_id)
    assert state.status == "completed"
    assert state.steps["ticket"].output["values"] == {
        "number": "CHG-1",
        "teams": ["web", "api"],
        "urgent": True,
    }


async def test_live_updates_need_a_session_and_stay_in_the_tenant(stack: Stack) -> None:
    await stack.apply(approval_flow(ALICE), tenant=OTHER_TENANT)
    theirs = await stack.engine.start_run(OTHER_TENANT, "purchase", {"item": "b"}, "U0BOB")
    async with stack.client() as browser:
        async with browser.get(f"/runs/{theirs.run_id}/events", allow_redirects=False) as r:
            assert r.status == 303
        await sign_in(stack, browser)
        async with browser.get(f"/runs/{theirs.run_id}/events") as r:
            assert r.status == 404


async def test_page_errors_are_readable_pages(stack: Stack) -> None:
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get("/runs/no-such-run") as r:
            assert r.status == 404 and r.content_type == "text/html"
            page = await r.text()
        assert "No such run in this workspace." in page and "Traceback" not in page
        async with browser.get("/no/such/page") as r:
            assert r.status == 404 and "Not found" in await r.text()
