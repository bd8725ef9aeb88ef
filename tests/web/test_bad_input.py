"""Bad input at the web's door: each is a 4xx naming the field, never a 500, and nothing of it
reaches the database (run on SQLite and PostgreSQL, where a NUL used to fail the query)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from yarl import URL

from tests.web.forms import csrf_of
from tests.web.support import SIGNAL_FLOW, TENANT, Stack, approval_flow
from tests.web.test_dashboard import INPUT_FLOW, sign_in

SURROGATE = "\\ud800"  # as JSON text: an unpaired surrogate once parsed


async def send(
    stack: Stack, method: str, path: str, data: str | None = None, **kw: Any
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    async with (
        stack.client(stack.api_key) as http,
        http.request(method, "/api/v1" + path, data=data, headers=headers, **kw) as r,
    ):
        assert r.content_type == "application/json"
        return r.status, await r.json()


def fields(body: dict[str, Any]) -> list[str]:
    return [d["field"] for d in body["error"]["details"]]


async def no_runs(stack: Stack) -> None:
    page = await stack.engine.list_runs(TENANT)
    assert page.runs == []


@pytest.mark.parametrize(
    "body, status, field",
    [
        ("[" * 100_000, 400, "(request body)"),
        (
            '{"workflow": "purchase", "inputs": {"item": ' + "[" * 100_000 + "}}",
            400,
            "(request body)",
        ),
        (
            '{"workflow": "purchase", "inputs": {"item": "a", "amount": ' + "9" * 4000 + "}}",
            422,
            "inputs.amount",
        ),
        (
            '{"workflow": "purchase", "inputs": {"item": "a", "amount": 1e999}}',
            422,
            "inputs.amount",
        ),
        ('{"workflow": "purchase", "inputs": {"item": "a", "amount": NaN}}', 400, None),
        ('{"workflow": "purchase", "inputs": {"item": "a' + SURROGATE + '"}}', 422, "inputs.item"),
        ('{"workflow": "purchase", "inputs": {"item": "a\\u0000b"}}', 422, "inputs.item"),
        ('{"workflow": "purchase", "requester": "U0\\u0000"}', 422, "requester"),
    ],
    ids=[
        "deep-body",
        "deep-input",
        "4000-digits",
        "infinite",
        "nan",
        "surrogate",
        "nul",
        "nul-requester",
    ],
)
async def test_a_start_with_a_value_no_input_may_hold_is_refused_naming_it(
    stack: Stack, body: str, status: int, field: str | None
) -> None:
    await stack.apply(approval_flow("U0APPROVER"))
    got, answer = await send(stack, "POST", "/runs", body)
    assert got == status, answer
    if field is not None:
        assert field in fields(answer)
        assert field in answer["error"]["message"] or field.startswith("(")
    await no_runs(stack)


async def test_a_signal_payload_with_a_nul_is_refused_naming_its_field(stack: Stack) -> None:
    await stack.apply(SIGNAL_FLOW)
    run = await stack.engine.start_run(TENANT, "deploy", {}, "U0BOB")
    got, answer = await send(
        stack,
        "POST",
        f"/runs/{run.run_id}/signals/ci-finished",
        '{"result": {"log": ["ok", "bad\\u0000"]}}',
    )
    assert got == 422, answer
    assert fields(answer) == ["result.log.1"]
    assert "NUL" in answer["error"]["details"][0]["message"]
    assert (await stack.engine.get_run(TENANT, run.run_id)).status == "running"


@pytest.mark.parametrize(
    "path, field",
    [
        ("/runs/%00", "run_id"),
        ("/runs/r%00/cancel", "run_id"),
        ("/workflows/%00purchase", "name"),
        ("/runs?workflow=%00", "workflow"),
        ("/runs?requester=U0%00", "requester"),
        ("/runs?%00=1", "\x00"),
    ],
)
async def test_a_nul_in_a_path_segment_or_query_parameter_is_a_400_naming_it(
    stack: Stack, path: str, field: str
) -> None:
    method = "POST" if path.endswith("/cancel") else "GET"
    got, answer = await send(stack, method, path, "{}")
    assert got == 400, answer
    assert fields(answer) == [field]


async def raw_request(stack: Stack, head: bytes, body: bytes = b"") -> tuple[bytes, bytes]:
    """Send a request written by hand (header bytes that are not UTF-8 reach the app as
    surrogates; no client library sends them) and return its status line and body."""
    host, port = urlsplit(stack.web.url).netloc.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        head
        + b"\r\nHost: x\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer = await reader.read()
    writer.close()
    status, _, rest = answer.partition(b"\r\n")
    return status, rest.partition(b"\r\n\r\n")[2]


async def test_an_idempotency_key_that_is_not_utf8_is_refused(stack: Stack) -> None:
    await stack.apply(approval_flow("U0APPROVER"))
    head = (
        b"POST /api/v1/runs HTTP/1.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {stack.api_key}\r\n".encode()
        + b"Idempotency-Key: k\xff"
    )
    body = b'{"workflow": "purchase", "inputs": {"item": "a"}}'
    status, answer = await raw_request(stack, head, body)
    assert status.startswith(b"HTTP/1.1 400 "), answer
    assert fields(json.loads(answer)) == ["Idempotency-Key"]
    await no_runs(stack)


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"GET /api/v1/runs HTTP/1.1\r\nAuthorization: Bearer cs_key_\xff", b" 401 "),
        (b"GET /runs HTTP/1.1\r\nCookie: cs_session=\xff\xfe", b" 303 "),
    ],
    ids=["api-key", "session-cookie"],
)
async def test_a_credential_that_is_not_utf8_is_unknown_not_a_500(
    stack: Stack, head: bytes, expected: bytes
) -> None:
    status, answer = await raw_request(stack, head)
    assert expected in status, answer


@pytest.mark.parametrize("path", ["/runs/%00", "/runs?status=%00", "/links/%00"])
async def test_pages_answer_a_nul_in_the_url_with_a_400_page(stack: Stack, path: str) -> None:
    async with stack.client() as http, http.get(path, allow_redirects=False) as r:
        assert r.status == 400
        assert r.content_type == "text/html"
        assert "NUL" in await r.text()


async def test_a_nul_typed_into_a_dashboard_form_is_refused_naming_the_field(
    stack: Stack,
) -> None:
    await stack.apply(INPUT_FLOW)
    run = await stack.engine.start_run(TENANT, "change", {}, "U0BOB")
    await stack.engine.run_until_idle()
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get(f"/runs/{run.run_id}") as r:
            page = await r.text()
        action = f"/runs/{run.run_id}/steps/ticket/input"
        data = {"csrf": csrf_of(page), "number": "CHG\x001"}
        async with browser.post(action, data=data, allow_redirects=False) as r:
            assert r.status == 422
            page = await r.text()
    assert "NUL character" in page
    state = await stack.engine.get_run(TENANT, run.run_id)
    assert state.steps["ticket"].status == "waiting"


async def test_a_form_token_that_is_not_ascii_is_refused_not_a_500(stack: Stack) -> None:
    await stack.apply(INPUT_FLOW)
    run = await stack.engine.start_run(TENANT, "change", {}, "U0BOB")
    await stack.engine.run_until_idle()
    async with stack.client() as browser:
        await sign_in(stack, browser)
        action = f"/runs/{run.run_id}/steps/ticket/input"
        data = {"csrf": "jeton-périmé", "number": "CHG-1"}
        async with browser.post(action, data=data, allow_redirects=False) as r:
            assert r.status == 403
            assert "expired" in await r.text()


async def test_a_form_body_that_is_not_utf8_is_a_400_page(stack: Stack) -> None:
    await stack.apply(INPUT_FLOW)
    run = await stack.engine.start_run(TENANT, "change", {}, "U0BOB")
    async with stack.client() as browser:
        await sign_in(stack, browser)
        cookie = browser.cookie_jar.filter_cookies(URL(stack.web.url))["cs_session"].value
    head = (
        f"POST /runs/{run.run_id}/steps/ticket/input HTTP/1.1\r\n"
        f"Cookie: cs_session={cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded"
    ).encode()
    status, page = await raw_request(stack, head, b"csrf=x&number=CHG\xff1")
    assert b" 400 " in status, page
    assert (await stack.engine.get_run(TENANT, run.run_id)).steps["ticket"].status == "waiting"


@pytest.mark.parametrize("source", ["name: x\nsteps: []\ntitle: 9", '{"name": "x", "title": 9'])
async def test_a_definition_with_a_5000_digit_number_is_refused_not_a_500(
    stack: Stack, source: str
) -> None:
    body = json.dumps({"source": source + "9" * 5000 + ("}" if source[0] == "{" else "")})
    got, answer = await send(stack, "POST", "/workflows", body)
    assert got == 422, answer
    assert answer["error"]["code"] == "invalid_definition"
    assert "4300 digits" in answer["error"]["message"]
