"""The refusals of the shared tables (tests/refusal_cases.py) through the REST API (the code in
the JSON error, with its 4xx) and the run page (a notice worded by the code, same status):
decisions, handing on, asking, reassigning, and input forms."""

from __future__ import annotations

import pytest

from tests.refusal_cases import (
    CASES,
    IDS,
    INPUT_CASES,
    INPUT_IDS,
    Case,
    HandoffCase,
    InputCase,
    People,
    handoff_cases,
    handoff_ids,
    input_unchanged,
    prepare,
    prepare_input,
    unchanged,
)
from tests.web.forms import csrf_of
from tests.web.support import TENANT, Stack
from tests.web.test_api import assert_error, call
from tests.web.test_dashboard import sign_in

PEOPLE = People(requester="U0REQ", a="U0ANN", b="U0BOB", stranger="U0EVE")
STATUS = {"not_approver": 403, "already_voted": 409, "closed": 409, "own_request": 403}
NOTICE = {
    "not_approver": "You are not an approver of this step; nothing changed.",
    "already_voted": "You already approved this step; nothing changed.",
    "closed": "This step is not waiting for a decision any more (approved); nothing changed.",
    "own_request": "You cannot decide on your own request; nothing changed.",
}


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_rest_answers_the_refusal_code(stack: Stack, case: Case) -> None:
    run_id, actor = await prepare(stack.engine, TENANT, PEOPLE, case)
    decision = {"step_id": "review", "actor": actor, "decision": "approve"}
    async with stack.client(stack.api_key) as http:
        status, body = await call(http, "POST", f"/runs/{run_id}/decisions", json=decision)
    assert status == STATUS[case.code]
    assert_error(body, case.code)
    assert body["error"]["details"]["step"] == "review"
    await unchanged(stack.engine, TENANT, run_id, case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_run_page_words_the_refusal_code(stack: Stack, case: Case) -> None:
    run_id, actor = await prepare(stack.engine, TENANT, PEOPLE, case)
    async with stack.client() as browser:
        await sign_in(stack, browser, actor)
        async with browser.get(f"/runs/{run_id}") as r:
            page = await r.text()
        action = f"/runs/{run_id}/steps/review/decide"
        data = {"decision": "approve", "csrf": csrf_of(page)}
        async with browser.post(action, data=data) as r:
            assert r.status == STATUS[case.code]
            assert NOTICE[case.code] in await r.text()
    await unchanged(stack.engine, TENANT, run_id, case)


HANDOFF_STATUS = {"not_approver": 403, "already_voted": 409, "closed": 409, "not_admin": 403}
# The run page shows the engine's sentence beside the refused form; a part of each, by code.
HANDOFF_NOTICE = {
    "not_approver": "not an approver of this step",
    "already_voted": "already decided on this step",
    "closed": "(it is approved)",
    "not_admin": "only Countersign admins can reassign requests",
}
FORM = {
    "delegate": {"to": "U0DAN", "reason": "away"},
    "ask": {"question": "Which budget?"},
    "reassign": {"from": PEOPLE.a, "to": "U0DAN"},
}


@pytest.mark.parametrize("case", handoff_cases("rest"), ids=handoff_ids("rest"))
async def test_rest_answers_the_handoff_refusal_code(stack: Stack, case: HandoffCase) -> None:
    run_id, actor = await prepare(stack.engine, TENANT, PEOPLE, case)
    async with stack.client(stack.api_key) as http:
        if case.action == "delegate":
            body = {"actor": actor, "to": "U0DAN"}
            status, answer = await call(
                http, "POST", f"/runs/{run_id}/steps/review/delegate", json=body
            )
        else:
            body = {"actor": actor, "text": "Which budget?"}
            status, answer = await call(
                http, "POST", f"/runs/{run_id}/steps/review/questions", json=body
            )
    assert status == HANDOFF_STATUS[case.code]
    assert_error(answer, case.code)
    await unchanged(stack.engine, TENANT, run_id, case)


@pytest.mark.parametrize("case", handoff_cases("web"), ids=handoff_ids("web"))
async def test_the_run_page_words_the_handoff_refusal_code(stack: Stack, case: HandoffCase) -> None:
    run_id, actor = await prepare(stack.engine, TENANT, PEOPLE, case)
    async with stack.client() as browser:
        await sign_in(stack, browser, actor)
        async with browser.get(f"/runs/{run_id}") as r:
            page = await r.text()
        action = f"/runs/{run_id}/steps/review/{case.action}"
        data = {**FORM[case.action], "csrf": csrf_of(page)}
        async with browser.post(action, data=data) as r:
            assert r.status == HANDOFF_STATUS[case.code]
            assert HANDOFF_NOTICE[case.code] in await r.text()
    await unchanged(stack.engine, TENANT, run_id, case)


INPUT_STATUS = {"not_assignee": 403, "closed": 409}
INPUT_NOTICE = {
    "not_assignee": "This form is assigned to someone else; nothing changed.",
    "closed": "This step is not waiting for a decision any more",
}


@pytest.mark.parametrize("case", INPUT_CASES, ids=INPUT_IDS)
async def test_rest_answers_the_input_refusal_code(stack: Stack, case: InputCase) -> None:
    run_id, actor = await prepare_input(stack.engine, TENANT, PEOPLE, case)
    body = {"actor": actor, "values": {"ticket": "CHG-2"}}
    async with stack.client(stack.api_key) as http:
        status, answer = await call(http, "POST", f"/runs/{run_id}/steps/form/input", json=body)
    assert status == INPUT_STATUS[case.code]
    assert_error(answer, case.code)
    await input_unchanged(stack.engine, TENANT, run_id, case)


@pytest.mark.parametrize("case", INPUT_CASES, ids=INPUT_IDS)
async def test_the_run_page_words_the_input_refusal_code(stack: Stack, case: InputCase) -> None:
    run_id, actor = await prepare_input(stack.engine, TENANT, PEOPLE, case)
    async with stack.client() as browser:
        await sign_in(stack, browser, actor)
        async with browser.get(f"/runs/{run_id}") as r:
            page = await r.text()
        data = {"ticket": "CHG-2", "csrf": csrf_of(page)}
        async with browser.post(f"/runs/{run_id}/steps/form/input", data=data) as r:
            assert r.status == INPUT_STATUS[case.code]
            assert INPUT_NOTICE[case.code] in await r.text()
    await input_unchanged(stack.engine, TENANT, run_id, case)
