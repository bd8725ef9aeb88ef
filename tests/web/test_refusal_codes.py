"""The refusals of the shared table (tests/refusal_cases.py) through the REST API (the code in
the JSON error, with its 4xx) and the run page (a notice worded by the code, same status)."""

from __future__ import annotations

import pytest

from tests.refusal_cases import CASES, IDS, Case, People, prepare, unchanged
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
