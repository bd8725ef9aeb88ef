"""Run starts sent together: one holding text no store can keep is refused with a 4xx naming the
field, and the valid ones sent with it are started."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.web.support import Stack, approval_flow

APPROVER = "U0APPROVER"


async def test_a_bad_start_among_valid_ones_fails_alone_with_a_4xx(stack: Stack) -> None:
    await stack.apply(approval_flow(APPROVER))
    good = json.dumps({"workflow": "purchase", "inputs": {"item": "desk"}})
    bodies = [good] * 12
    # Escapes JSON allows and Python decodes, but no store can keep: a lone surrogate, a NUL.
    bodies[4] = '{"workflow": "purchase", "inputs": {"item": "de\\ud800sk"}}'
    bodies[9] = '{"workflow": "purchase", "requester": "U0\\u0000X", "inputs": {"item": "desk"}}'
    async with stack.client(stack.api_key) as http:

        async def post(body: str) -> tuple[int, Any]:
            headers = {"Content-Type": "application/json"}
            async with http.post("/api/v1/runs", data=body, headers=headers) as r:
                return r.status, await r.json()

        answers = await asyncio.gather(*(post(body) for body in bodies))
    for i, (status, body) in enumerate(answers):
        if i in (4, 9):
            assert 400 <= status < 500, body
            field = "item" if i == 4 else "requester"
            assert field in body["error"]["message"] + json.dumps(body["error"]["details"])
        else:
            assert status == 201, body
