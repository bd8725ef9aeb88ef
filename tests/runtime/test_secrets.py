"""Secrets end to end: a tenant reaches only its own, templates cannot change them, and what a
server echoes back never carries one into the events, the timeline, the webhook or the log.
On every store backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from engine.commands import CallHttp
from engine.definitions.models import HttpAction
from engine.errors import DefinitionError, SecretUnreadable
from engine.ports import Failed, Succeeded
from engine.runtime.service import Engine
from engine.secrets import Secrets
from engine.testing import ManualClock, MemoryStorage
from engine.timeline import describe
from outbound.http import EXCERPT_CHARS, MAX_RESPONSE_BYTES, HttpHandler
from storage import Storage
from tests.runtime.conftest import local_server
from web.api.schemas import WebhookPayload

A, B = "TA", "TB"
TOKEN = "tok-of-A-7f3e9c1d"
NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


class Server:
    """Records the Authorization header of every request; /echo sends it back in its body (and
    the URL too), /refuse quotes it in an error."""

    def __init__(self) -> None:
        self.url = ""
        self.auth: list[str | None] = []

    async def echo(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        got = {"authorization": request.headers.get("Authorization"), "url": str(request.url)}
        return web.json_response({"id": "EXP-1", "got": got}, status=201)

    async def cut(self, request: web.Request) -> web.Response:
        """The token just where the recorded part of the body ends (?at=N characters)."""
        self.auth.append(request.headers.get("Authorization"))
        filler = "x" * (int(request.query["at"]) - 5)
        status = int(request.query["status"])
        return web.Response(status=status, text=f"{filler}{TOKEN}{'y' * 100}")

    async def refuse(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        return web.Response(status=403, text=f"{request.headers.get('Authorization')} is revoked")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    found = Server()
    app = web.Application()
    app.router.add_post("/echo", found.echo)
    app.router.add_post("/refuse", found.refuse)
    app.router.add_post("/cut", found.cut)
    async with local_server(app) as found.url:
        yield found


@pytest.fixture
async def engine(
    store_backend: MemoryStorage | Storage, clock: ManualClock
) -> AsyncIterator[Engine]:
    made = Engine.from_storage(store_backend, clock=clock)
    http = HttpHandler(secrets=made.secrets, allowed_hosts=["127.0.0.1"])
    made.register("call_http", http)
    try:
        yield made
    finally:
        await made.stop()
        await http.close()


def flow(name: str, url: str) -> str:
    return f"""
name: {name}
steps:
  - id: call
    type: http
    url: "{url}?key={{{{ secrets.ERP_TOKEN }}}}"
    headers: {{Authorization: "Bearer {{{{ secrets.ERP_TOKEN }}}}"}}
    expect: [201]
"""


async def test_another_tenant_cannot_name_or_reach_a_secret(engine: Engine, server: Server) -> None:
    await engine.secrets.put(A, "ERP_TOKEN", TOKEN, NOW)
    text = flow("steal", f"{server.url}/echo")
    await engine.apply_definition(A, text, "a.yaml")  # A's own: fine

    with pytest.raises(DefinitionError) as caught:
        await engine.apply_definition(B, text, "steal.yaml")
    assert "steal.yaml:7: steps.0.headers.Authorization: unknown secret 'ERP_TOKEN'" in str(
        caught.value.message
    )
    assert "this workspace's secrets: none" in caught.value.message

    # B had its own ERP_TOKEN when it applied, then deleted it: at dispatch A's is not there.
    await engine.secrets.put(B, "ERP_TOKEN", "b-token", NOW)
    await engine.apply_definition(B, text, "steal.yaml")
    await engine.secrets.delete(B, "ERP_TOKEN")
    run = await engine.start_run(B, "steal", {}, "UB")
    await engine.run_until_idle()
    run = await engine.get_run(B, run.run_id)
    assert run.status == "failed"
    assert "no key 'ERP_TOKEN'" in (run.steps["call"].error or "")
    assert server.auth == []  # nothing was sent, least of all A's token


async def test_a_template_cannot_change_a_secret(engine: Engine, server: Server) -> None:
    """`.update` on the mapping: refused when applied, and harmless at dispatch for a definition
    stored before that check (its render fails; A's next call still carries A's token)."""
    await engine.secrets.put(A, "ERP_TOKEN", TOKEN, NOW)
    tamper = "{% set s = secrets %}{{ s.update({'ERP_TOKEN': 'x'}) or '' }}"
    text = flow("tamper", f"{server.url}/echo").replace(
        "expect: [201]", f'json: {{note: "{tamper}"}}\n    expect: [201]'
    )
    with pytest.raises(DefinitionError, match="read a secret by its name"):
        await engine.apply_definition(A, text, "tamper.yaml")

    http = engine.handlers["call_http"]
    action = HttpAction(url=f"{server.url}/echo", json={"note": tamper}, expect=[201])
    command = CallHttp(
        key="r0:t:1", tenant_id=A, run_id="r0", step_id="t", attempt=1, action=action, context={}
    )
    outcome = await http.perform(command)
    assert isinstance(outcome, Failed) and "could not render the request" in outcome.error

    await engine.apply_definition(A, flow("book", f"{server.url}/echo"), "book.yaml")
    run = await engine.start_run(A, "book", {}, "UA")
    await engine.run_until_idle()
    assert (await engine.get_run(A, run.run_id)).status == "completed"
    assert server.auth == [f"Bearer {TOKEN}"]
    assert await engine.secrets.values(A, None) == {"ERP_TOKEN": TOKEN}


async def test_an_echoed_token_never_reaches_events_timeline_webhook_or_log(
    engine: Engine, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    await engine.secrets.put(A, "ERP_TOKEN", TOKEN, NOW)
    await engine.apply_definition(A, flow("echo", f"{server.url}/echo"))
    await engine.apply_definition(A, flow("refuse", f"{server.url}/refuse"))
    caplog.set_level(logging.DEBUG)
    echoed = await engine.start_run(A, "echo", {}, "UA")
    refused = await engine.start_run(A, "refuse", {}, "UA")
    await engine.run_until_idle()
    echoed = await engine.get_run(A, echoed.run_id)
    refused = await engine.get_run(A, refused.run_id)
    assert server.auth == [f"Bearer {TOKEN}"] * 2  # the server did get it

    assert echoed.status == "completed" and refused.status == "failed"
    response = echoed.steps["call"].output["response"]
    assert response["got"]["authorization"] == "Bearer [secret ERP_TOKEN]"
    assert response["got"]["url"].endswith("/echo?key=[secret ERP_TOKEN]")
    assert refused.steps["call"].error is not None
    assert "returned 403: Bearer [secret ERP_TOKEN] is revoked" in refused.steps["call"].error

    # Our log lines (the test server's access log is the receiving end's, not ours).
    ours = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    seen = [*ours, WebhookPayload.of(echoed).model_dump_json()]
    for run in (echoed, refused):
        seen.append(run.model_dump_json())
        for recorded in await engine.timeline(A, run.run_id):
            seen += [recorded.event.model_dump_json(), describe(recorded.event)]
    assert not [text for text in seen if TOKEN in text]


async def test_an_undecryptable_secret_fails_the_step_clearly(
    engine: Engine, store_backend: MemoryStorage | Storage, server: Server
) -> None:
    if isinstance(store_backend, MemoryStorage):
        pytest.skip("only the SQL store encrypts")
    from sqlalchemy import update

    from storage.secrets import tenant_secrets

    await engine.secrets.put(B, "ERP_TOKEN", "b-token", NOW)
    await engine.apply_definition(B, flow("moved", f"{server.url}/echo"))
    await engine.secrets.put(A, "ERP_TOKEN", TOKEN, NOW)
    sealed = await _sealed(store_backend, A)
    async with store_backend.engine.begin() as conn:  # A's row copied over B's
        await conn.execute(
            update(tenant_secrets).where(tenant_secrets.c.tenant_id == B).values(sealed=sealed)
        )
    with pytest.raises(SecretUnreadable):
        await engine.secrets.values(B, None)
    run = await engine.start_run(B, "moved", {}, "UB")
    await engine.run_until_idle()
    run = await engine.get_run(B, run.run_id)
    assert run.status == "failed"
    assert "secret 'ERP_TOKEN' of TB cannot be decrypted" in (run.steps["call"].error or "")
    assert server.auth == []


async def _sealed(storage: Storage, tenant: str) -> bytes:
    from sqlalchemy import select

    from storage.secrets import tenant_secrets

    async with storage.engine.connect() as conn:
        query = select(tenant_secrets.c.sealed).where(tenant_secrets.c.tenant_id == tenant)
        return bytes((await conn.execute(query)).scalar_one())


@pytest.mark.parametrize(
    ("at", "status"), [(MAX_RESPONSE_BYTES, 201), (EXCERPT_CHARS, 403)], ids=["response", "error"]
)
async def test_a_secret_cut_where_the_record_ends_is_not_half_shown(
    server: Server, at: int, status: int
) -> None:
    http = HttpHandler(
        secrets=Secrets(seeds={A: {"ERP_TOKEN": TOKEN}}), allowed_hosts=["127.0.0.1"]
    )
    action = HttpAction(
        url=f"{server.url}/cut?at={at}&status={status}",
        headers={"Authorization": "Bearer {{ secrets.ERP_TOKEN }}"},
        expect=[201],
    )
    command = CallHttp(
        key="r0:c:1", tenant_id=A, run_id="r0", step_id="c", attempt=1, action=action, context={}
    )
    try:
        outcome = await http.perform(command)
    finally:
        await http.close()
    assert server.auth == [f"Bearer {TOKEN}"]
    if status == 201:
        assert isinstance(outcome, Succeeded)
        recorded = outcome.result["response"]
    else:
        assert isinstance(outcome, Failed)
        recorded = outcome.error
    assert "xxxxx[secr" in recorded and TOKEN[:5] not in recorded
