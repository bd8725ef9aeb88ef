"""The bundled quickstart completes with nothing but the app: started on the web page, approved
on the run's page, its http step answered by the app's own demo endpoint, the requester told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outbound.http import HttpHandler
from tests.web.forms import csrf_of, form_fields
from tests.web.support import TENANT, Stack
from tests.web.test_dashboard import sign_in
from web.demo import DEMO_PATHS

QUICKSTART = Path(__file__).parents[2] / "manifests" / "workflows" / "quickstart.yaml"
NEWCOMER = "email:newcomer@example.com"


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[HttpHandler]:
    """http steps performed as `serve` performs them: the outbound policy of the default
    settings (any public host), plus the app's own demo endpoints."""
    handler = HttpHandler()
    handler.serve_own(stack.web.own_url, DEMO_PATHS)
    stack.engine.register("call_http", handler)
    yield handler
    await handler.close()


@pytest.mark.parametrize(
    ("signed_in", "who"),
    [
        ("Newcomer@Example.com", NEWCOMER),  # the link names one person, however written
        # The operator, signed in by the link the first start prints (`cli:<login>`): asked on
        # the dashboard, told in the log (no mail address to write to).
        ("cli:root", "cli:root"),
    ],
)
async def test_the_quickstart_completes_on_the_web_pages(
    stack: Stack, http: HttpHandler, signed_in: str, who: str
) -> None:
    await stack.apply(QUICKSTART.read_text())
    async with stack.client() as browser:
        await sign_in(stack, browser, signed_in)
        async with browser.get("/workflows") as r:
            listing = await r.text()
        assert 'href="/workflows/quickstart/start"' in listing
        async with browser.get("/workflows/quickstart/start") as r:
            page = await r.text()
        values = form_fields(page, "/workflows/quickstart/start")
        assert values == {"request": "A second monitor", "approver": ""}
        values["csrf"] = csrf_of(page)
        async with browser.post(
            "/workflows/quickstart/start", data=values, allow_redirects=False
        ) as r:
            assert r.status == 303, await r.text()
            run_page = r.headers["Location"]
        run_id = run_page.rsplit("/", 1)[-1]
        await stack.engine.run_until_idle()
        async with browser.get(run_page) as r:
            page = await r.text()
        assert "Your decision on" in page and "asks for: A second monitor" in page
        action = f"/runs/{run_id}/steps/approve/decide"
        data = {"decision": "approve", "csrf": csrf_of(page)}
        async with browser.post(action, data=data, allow_redirects=False) as r:
            assert r.status == 303
        await stack.engine.run_until_idle()
        async with browser.get(run_page) as r:
            assert "run completed" in await r.text()
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.status == "completed" and run.requester == who
    book = run.steps["book"].output
    assert book["status"] == 201
    assert book["response"]["received"] == {
        "request": "A second monitor",
        "approved_by": who,
        "run": run_id,
    }
    assert book["response"]["idempotency_key"] == f"{run_id}:book:1"
    if who == NEWCOMER:
        told = [p.read_text() for p in sorted(stack.outbox_dir.glob("*.eml"))]
        assert any(book["response"]["id"] in mail for mail in told)  # the notify, as a mail file


async def test_http_steps_reach_the_demo_endpoint_and_nothing_else_of_the_app(
    stack: Stack, http: HttpHandler
) -> None:
    flow = """
name: probe
inputs: [{id: path, type: text, required: true}]
steps:
  - {id: call, type: http, method: POST, url: "{{ app.url }}{{ inputs.path | raw_url }}", json: {}}
"""
    await stack.apply(flow)
    outcomes = {}
    for path in ("/demo/echo", "/api/v1/runs", "/demo/../api/v1/runs", "/healthz"):
        run = await stack.engine.start_run(TENANT, "probe", {"path": path}, NEWCOMER)
        await stack.engine.run_until_idle()
        state = await stack.engine.get_run(TENANT, run.run_id)
        outcomes[path] = state.status, state.steps["call"].error or ""
    assert outcomes["/demo/echo"] == ("completed", "")
    for path in ("/api/v1/runs", "/demo/../api/v1/runs", "/healthz"):
        status, error = outcomes[path]
        assert status == "failed" and "a loopback address" in error, (path, error)


async def test_a_refused_start_form_says_why_and_keeps_what_was_typed(stack: Stack) -> None:
    await stack.apply(QUICKSTART.read_text())
    async with stack.client() as browser:
        await sign_in(stack, browser, NEWCOMER)
        async with browser.get("/workflows/quickstart/start") as r:
            page = await r.text()
        data = {"csrf": csrf_of(page), "request": "A desk", "approver": "bob"}
        async with browser.post("/workflows/quickstart/start", data=data) as r:
            assert r.status == 422
            page = await r.text()
        assert "expected a Slack user id like U0123ABCD or an email address, got &#39;bob&#39;" in (
            page
        )
        assert form_fields(page, "/workflows/quickstart/start") == {
            "request": "A desk",
            "approver": "bob",
        }
        async with browser.get("/workflows/nope/start") as r:
            assert r.status == 404
    assert (await stack.engine.list_runs(TENANT)).runs == []
