"""Applying a definition made to be deep or slow to check is a 422 naming the field and line."""

from __future__ import annotations

import json

import pytest

from tests.web.support import Stack

DEEP_IF = "{% if 1 %}" * 300 + "x" + "{% endif %}" * 300
DEEP_PARENS = "(" * 3000 + "1" + ")" * 3000


@pytest.mark.parametrize(
    ("step", "field", "phrase"),
    [
        ({"id": "a", "type": "notify", "message": DEEP_IF}, "steps.0.message", "blocks nest"),
        (
            {"id": "a", "type": "notify", "message": "x", "when": DEEP_PARENS},
            "steps.0.when",
            "nest",
        ),
    ],
)
async def test_deep_templates_are_a_422_not_a_500(
    stack: Stack, step: dict[str, str], field: str, phrase: str
) -> None:
    source = json.dumps({"name": "deep", "steps": [step]})
    async with (
        stack.client(stack.api_key) as http,
        http.post("/api/v1/workflows", json={"source": source}) as r,
    ):
        assert r.status == 422
        [detail] = (await r.json())["error"]["details"]
    assert detail["field"] == field and phrase in detail["message"] and detail["line"] == 1
