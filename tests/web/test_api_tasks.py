"""The REST API of human tasks: the SLA list, delegation and reassignment, questions and
answers, comments, out-of-office — with auth failures and other tenants' ids (404)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from tests.web.support import TENANT, Stack, approval_flow
from tests.web.test_api import assert_error, call

BOB = "U0BOB"
CAROL = "U0CAROL"
REQ = "U0REQ"

TIMED = """
name: timed
steps:
  - id: manager
    type: approval
    approvers: ["U0BOB"]
    remind_every: 2h
    timeout: 1d
    on_timeout: reject
"""


async def start(stack: Stack, workflow: str = "purchase", tenant: str = TENANT) -> str:
    if workflow == "purchase":
        await stack.apply(approval_flow(BOB), tenant)
    else:
        await stack.apply(TIMED, tenant)
    inputs = {"item": "desk"} if workflow == "purchase" else {}
    run = await stack.engine.start_run(tenant, workflow, inputs, REQ)
    await stack.engine.run_until_idle()
    return run.run_id


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/tasks"),
        ("POST", "/runs/R1/steps/manager/delegate"),
        ("POST", "/runs/R1/steps/manager/questions"),
        ("POST", "/runs/R1/steps/manager/questions/Q1/answer"),
        ("POST", "/runs/R1/comments"),
        ("GET", "/away/U0BOB"),
        ("PUT", "/away/U0BOB"),
        ("DELETE", "/away/U0BOB"),
    ],
)
async def test_every_task_endpoint_needs_a_key(stack: Stack, method: str, path: str) -> None:
    async with stack.client() as http:
        status, body = await call(http, method, path, json={})
    assert status == 401
    assert_error(body, "unauthorized")


async def test_tasks_list_the_sla_clock_longest_waiting_first(stack: Stack) -> None:
    older = await start(stack, "timed")
    stack.clock.advance(timedelta(minutes=30))
    newer = await start(stack)
    stack.clock.advance(timedelta(minutes=10))
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "GET", "/tasks")
        assert status == 200
        assert [t["run_id"] for t in body["tasks"]] == [older, newer]
        first = body["tasks"][0]
        assert first["waited_seconds"] == 40 * 60
        assert first["approvers"] == [BOB] and first["kind"] == "approval"
        assert first["next_reminder_at"] is not None and first["times_out_at"] is not None
        assert first["escalates_at"] is None and first["paused"] is False

        status, body = await call(http, "GET", "/tasks", params={"approver": CAROL})
        assert status == 200 and body["tasks"] == []
        status, body = await call(http, "GET", "/tasks", params={"limit": "0"})
        assert status == 422
        assert_error(body, "invalid_request")
    async with stack.client(stack.other_key) as http:
        status, body = await call(http, "GET", "/tasks")
        assert status == 200 and body["tasks"] == []  # another tenant sees none of them


async def test_delegate_and_admin_reassign(stack: Stack) -> None:
    run_id = await start(stack)
    path = f"/runs/{run_id}/steps/manager/delegate"
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "POST", path, json={"to": CAROL})
        assert status == 422 and body["error"]["details"][0]["field"] == "actor"
        status, body = await call(http, "POST", path, json={"actor": "U0NOBODY", "to": CAROL})
        assert status == 403
        assert_error(body, "not_approver")

        status, run = await call(
            http, "POST", path, json={"actor": BOB, "to": CAROL, "reason": "on leave"}
        )
        assert status == 200, run
        [step] = [s for s in run["steps"] if s["id"] == "manager"]
        assert step["approvers"] == [CAROL]
        assert step["delegations"] == [{"from": BOB, "to": CAROL, "by": BOB, "kind": "delegate"}]

        status, run = await call(
            http, "POST", path, json={"reassign": True, "from": CAROL, "to": "U0DAN"}
        )
        assert status == 200, run
        [step] = [s for s in run["steps"] if s["id"] == "manager"]
        assert step["approvers"] == ["U0DAN"]
        assert step["delegations"][-1]["kind"] == "reassign"

        status, detail = await call(http, "GET", f"/runs/{run_id}")
        types = [e["type"] for e in detail["timeline"]]
        assert types.count("step_delegated") == 2

    async with stack.client(stack.other_key) as http:
        status, body = await call(http, "POST", path, json={"actor": "U0DAN", "to": BOB})
        assert status == 404
        assert_error(body, "not_found")


async def test_a_question_pauses_the_clock_and_its_answer_resumes_it(stack: Stack) -> None:
    run_id = await start(stack, "timed")
    ask = f"/runs/{run_id}/steps/manager/questions"
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "POST", ask, json={"actor": REQ, "text": "?"})
        assert status == 403  # only an approver asks
        status, body = await call(http, "POST", ask, json={"actor": BOB, "text": ""})
        assert status == 422
        status, question = await call(
            http, "POST", ask, json={"actor": BOB, "text": "Which cost centre?"}
        )
        assert status == 201, question
        assert question["to"] == REQ and question["answer"] is None
        status, body = await call(http, "GET", "/tasks")
        [task] = body["tasks"]
        assert task["paused"] is True and task["open_question"] == "Which cost centre?"

        answer = f"{ask}/{question['question_id']}/answer"
        status, body = await call(http, "POST", answer, json={"actor": BOB, "text": "me?"})
        assert status == 403  # only the requester answers
        status, body = await call(
            http, "POST", f"{ask}/nope/answer", json={"actor": REQ, "text": "x"}
        )
        assert status == 404
        status, answered = await call(http, "POST", answer, json={"actor": REQ, "text": "CC-42"})
        assert status == 200, answered
        assert answered["answer"] == "CC-42" and answered["answered_by"] == REQ
        status, body = await call(http, "GET", "/tasks")
        assert body["tasks"][0]["paused"] is False

    async with stack.client(stack.other_key) as http:
        status, body = await call(http, "POST", ask, json={"actor": BOB, "text": "hi"})
        assert status == 404


async def test_comments_join_the_timeline_not_the_decisions(stack: Stack) -> None:
    run_id = await start(stack)
    path = f"/runs/{run_id}/comments"
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "POST", path, json={"actor": BOB, "text": ""})
        assert status == 422 and body["error"]["details"][0]["field"] == "text"
        status, comment = await call(
            http, "POST", path, json={"actor": BOB, "text": "Looks fine", "step_id": "manager"}
        )
        assert status == 201, comment
        assert comment["text"] == "Looks fine" and comment["channel"] == "api"
        status, detail = await call(http, "GET", f"/runs/{run_id}")
        [entry] = [e for e in detail["timeline"] if e["type"] == "comment_added"]
        assert entry["actor"] == BOB and entry["data"]["text"] == "Looks fine"
        [step] = [s for s in detail["run"]["steps"] if s["id"] == "manager"]
        assert step["votes"] == [] and step["status"] == "waiting"
    async with stack.client(stack.other_key) as http:
        status, body = await call(http, "POST", path, json={"actor": BOB, "text": "hi"})
        assert status == 404


async def test_out_of_office_set_read_and_cleared(stack: Stack) -> None:
    until = (stack.clock.now() + timedelta(days=3)).isoformat()
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "GET", f"/away/{BOB}")
        assert status == 200 and body == {
            "user": BOB,
            "away": False,
            "delegate": None,
            "starts": None,
            "until": None,
        }
        bad: list[dict[str, Any]] = [
            {"delegate": CAROL, "until": "2026-12-31T18:00:00"},  # no time zone
            {"delegate": CAROL},
        ]
        for body_in in bad:
            status, body = await call(http, "PUT", f"/away/{BOB}", json=body_in)
            assert status == 422
            assert_error(body, "invalid_request")
        past = (stack.clock.now() - timedelta(days=1)).isoformat()
        status, body = await call(
            http, "PUT", f"/away/{BOB}", json={"delegate": CAROL, "until": past}
        )
        assert status == 422
        status, body = await call(
            http, "PUT", f"/away/{BOB}", json={"delegate": BOB, "until": until}
        )
        assert status == 422

        status, body = await call(
            http, "PUT", f"/away/{BOB}", json={"delegate": CAROL, "until": until}
        )
        assert status == 200 and body["away"] is True and body["delegate"] == CAROL
        status, body = await call(http, "GET", f"/away/{BOB}")
        assert body["away"] is True and body["delegate"] == CAROL

    async with stack.client(stack.other_key) as http:
        status, body = await call(http, "GET", f"/away/{BOB}")
        assert body["away"] is False  # the other tenant's Bob is not away

    # New requests for Bob now go to Carol, marked as such.
    run_id = await start(stack)
    run = await stack.engine.get_run(TENANT, run_id)
    assert run.steps["manager"].approvers == [CAROL]
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "GET", "/tasks", params={"approver": CAROL})
        assert [t["run_id"] for t in body["tasks"]] == [run_id]
        status, body = await call(http, "DELETE", f"/away/{BOB}")
        assert status == 200 and body["away"] is False
        status, body = await call(http, "GET", f"/away/{BOB}")
        assert body["away"] is False

        # An email person is named as the engine stores them, however it is typed.
        status, body = await call(
            http, "PUT", "/away/Dana@Example.com", json={"delegate": CAROL, "until": until}
        )
        assert status == 200 and body["user"] == "email:dana@example.com"
        status, body = await call(http, "GET", "/away/dana@example.com")
        assert body["away"] is True and body["user"] == "email:dana@example.com"


async def test_the_openapi_document_describes_the_task_operations(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession(base_url=stack.web.url) as http,
        http.get("/api/v1/openapi.json") as r,
    ):
        doc = await r.json()
    paths = doc["paths"]
    assert "get" in paths["/api/v1/tasks"]
    assert "post" in paths["/api/v1/runs/{run_id}/steps/{step_id}/delegate"]
    assert "post" in paths["/api/v1/runs/{run_id}/steps/{step_id}/questions/{qid}/answer"]
    assert {"get", "put", "delete"} <= set(paths["/api/v1/away/{user}"])
    assert "TaskView" in doc["components"]["schemas"]
