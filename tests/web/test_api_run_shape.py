"""A run is the same object from every call (GET adds its timeline), and the run and task lists
say what each run is about."""

from __future__ import annotations

from tests.web.support import Stack, approval_flow
from tests.web.test_api import APPROVER, call, start


async def test_get_returns_the_run_as_post_does_with_its_timeline(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as http:
        started = await start(http, inputs={"item": "desk", "amount": 120})
        status, got = await call(http, "GET", f"/runs/{started['run_id']}")
        assert status == 200
        assert {k: got[k] for k in started} == started  # every field, at the same place
        assert got["timeline"][0]["type"] == "run_started"
        assert got["run"] == started  # the old envelope member, kept for existing clients
        assert started["summary"] == "item: desk, amount: 120"

        status, doc = await call(http, "GET", "/openapi.json")
    schemas = doc["components"]["schemas"]
    detail = schemas["RunDetail"]
    assert {"run_id", "status", "summary", "steps", "timeline"} <= set(detail["properties"])
    assert detail["properties"]["run"]["deprecated"] is True
    assert "summary" in schemas["RunView"]["required"]


async def test_run_and_task_lists_carry_each_runs_summary(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    async with stack.client(stack.api_key) as http:
        for item in ("desk", "lamp"):
            await start(http, inputs={"item": item})
        await stack.engine.run_until_idle()
        status, listed = await call(http, "GET", "/runs")
        assert status == 200
        assert [r["summary"] for r in listed["runs"]] == ["item: lamp", "item: desk"]
        status, tasks = await call(http, "GET", f"/tasks?approver={APPROVER}")
        assert status == 200
        assert sorted(t["summary"] for t in tasks["tasks"]) == ["item: desk", "item: lamp"]
        assert {t["step_title"] for t in tasks["tasks"]} == {"Manager approval"}
