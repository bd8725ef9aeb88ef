"""The REST API applies workflows in the key's workspace: naming another workspace's secret is a
422 that points at the line, and nothing is stored."""

from __future__ import annotations

from tests.web.support import OTHER_TENANT, TENANT, Stack

FLOW = """name: book
steps:
  - id: book
    type: http
    url: https://erp.example.com/api
    headers: {Authorization: "Bearer {{ secrets.ERP_TOKEN }}"}
"""


async def test_a_secret_of_another_workspace_is_unknown(stack: Stack) -> None:
    await stack.engine.secrets.put(OTHER_TENANT, "ERP_TOKEN", "theirs", stack.clock.now())
    async with stack.client(stack.api_key) as http:
        sent = {"source": FLOW, "filename": "book.yaml"}
        async with http.post("/api/v1/workflows", json=sent) as response:
            assert response.status == 422
            body = await response.json()
    [detail] = body["error"]["details"]
    assert detail["field"] == "steps.0.headers.Authorization" and detail["line"] == 6
    assert "unknown secret 'ERP_TOKEN'" in detail["message"]
    assert await stack.engine.list_definitions(TENANT) == []

    await stack.engine.secrets.put(TENANT, "ERP_TOKEN", "ours", stack.clock.now())
    async with (
        stack.client(stack.api_key) as http,
        http.post("/api/v1/workflows", json=sent) as response,
    ):
        assert response.status == 201
