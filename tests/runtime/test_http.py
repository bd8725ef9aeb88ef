"""The http step handler against a real local server: what it sends, how outcomes map to the
retry policy's terms, and the SSRF guard (hosts, resolved addresses, redirects)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from engine.commands import CallHttp
from engine.definitions.models import HttpAction
from engine.durations import Duration
from engine.ports import Failed, Succeeded
from engine.secrets import Secrets
from outbound.http import MAX_RESPONSE_BYTES, HttpHandler
from tests.runtime.conftest import Target


def call(url: str, **action: Any) -> CallHttp:
    return CallHttp(
        key="r1:book:2",
        tenant_id="T1",
        run_id="r1",
        step_id="book",
        attempt=2,
        action=HttpAction(url=url, **action),
        context={"inputs": {"amount": 42, "note": "lunch"}, "run": {"id": "r1"}},
    )


class FakeDns(AbstractResolver):
    """Answers from a table, as a DNS server under someone else's control might."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=ip, port=port, family=family, proto=0, flags=0)
            for ip in self.table[host]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def handler() -> AsyncIterator[HttpHandler]:
    made = HttpHandler(
        secrets=Secrets(seeds={"T1": {"TOKEN": "s3cret"}}), allowed_hosts=["127.0.0.1"]
    )
    yield made
    await made.close()


async def test_renders_the_request_and_sends_the_idempotency_key(
    handler: HttpHandler, target: Target
) -> None:
    outcome = await handler.perform(
        call(
            f"{target.url}/pay/{{{{ run.id }}}}",
            headers={"Authorization": "Bearer {{ secrets.TOKEN }}"},
            json={"amount": "{{ inputs.amount }}", "items": ["{{ inputs.note }}", 3]},
        )
    )
    sent = target.requests[0]
    assert (sent.method, sent.path, sent.key) == ("POST", "/pay/r1", "r1:book:2")
    assert sent.headers["Authorization"] == "Bearer s3cret"
    assert sent.body == {"amount": "42", "items": ["lunch", 3]}
    assert outcome == Succeeded(
        {"status": 200, "response": {"id": "x1", "path": "/pay/r1", "got": sent.body}}
    )


@pytest.mark.parametrize(
    ("status", "reason"), [(503, "5xx"), (500, "5xx"), (429, "429"), (404, "404"), (409, "409")]
)
async def test_unexpected_statuses_fail_in_retry_policy_terms(
    handler: HttpHandler, target: Target, status: int, reason: str
) -> None:
    target.respond("/book", status)
    outcome = await handler.perform(call(f"{target.url}/book?secret=no", method="PUT"))
    assert isinstance(outcome, Failed)
    assert outcome.reason == reason
    assert outcome.error.startswith(f"PUT {target.url}/book returned {status}: {{")
    assert "secret=no" not in outcome.error  # the query may carry credentials


async def test_a_refused_connection_is_a_connection_failure(handler: HttpHandler) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once closed
    outcome = await handler.perform(call(f"http://127.0.0.1:{port}/x"))
    assert isinstance(outcome, Failed) and outcome.reason == "connection"
    assert f"127.0.0.1:{port}/x could not connect" in outcome.error


async def test_a_slow_server_is_a_timeout(handler: HttpHandler) -> None:
    release = web.Response(text="late")
    app = web.Application()
    never = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await never.wait()
        return release

    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        outcome = await handler.perform(
            call(f"http://127.0.0.1:{port}/slow", method="GET", timeout=Duration(seconds=1))
        )
    finally:
        never.set()
        await runner.cleanup()
    assert outcome == Failed(f"GET http://127.0.0.1:{port}/slow timed out after 1s", "timeout")


async def test_text_responses_are_kept_and_bounded(handler: HttpHandler) -> None:
    app = web.Application()

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="a" * (MAX_RESPONSE_BYTES * 2))

    async def small(request: web.Request) -> web.Response:
        return web.Response(text="plain ok")

    app.router.add_get("/big", big)
    app.router.add_get("/small", small)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        small_out = await handler.perform(call(f"{base}/small", method="GET"))
        big_out = await handler.perform(call(f"{base}/big", method="GET"))
    finally:
        await runner.cleanup()
    assert small_out == Succeeded({"status": 200, "response": "plain ok"})
    assert isinstance(big_out, Succeeded)
    assert big_out.result["response"] == "a" * MAX_RESPONSE_BYTES + "…"


async def test_redirects_are_not_followed(handler: HttpHandler, target: Target) -> None:
    app = web.Application()

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{target.url}/inside")

    app.router.add_post("/hop", hop)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        outcome = await handler.perform(call(f"http://127.0.0.1:{runner.addresses[0][1]}/hop"))
    finally:
        await runner.cleanup()
    assert isinstance(outcome, Failed) and outcome.reason == "302"
    assert target.requests == []


async def test_bad_templates_and_schemes_fail_for_good(handler: HttpHandler) -> None:
    missing = await handler.perform(call("http://127.0.0.1/{{ secrets.NOPE }}"))
    assert isinstance(missing, Failed) and missing.reason == "permanent"
    assert missing.error.startswith("could not render the request:") and "NOPE" in missing.error
    scheme = await handler.perform(call("file:///etc/passwd"))
    assert scheme == Failed("'file:///etc/passwd' is not an http(s) URL")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "is a link-local (cloud metadata) address"),
        ("http://10.0.0.8/api", "is a private address"),
        ("http://192.168.1.1/", "is a private address"),
        ("http://127.0.0.1:9/", "is a loopback address"),
        ("http://[::1]/", "is a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "is a link-local (cloud metadata) address"),
        ("http://[fd00::1]/", "is a unique-local address"),
        ("http://0.0.0.0/", "is an unspecified address"),
        ("http://224.0.0.1/", "is a multicast address"),
    ],
)
async def test_non_public_addresses_are_refused(url: str, why: str) -> None:
    handler = HttpHandler(allowed_hosts=[])  # any public host
    outcome = await handler.perform(call(url))
    await handler.close()
    assert isinstance(outcome, Failed) and outcome.reason == "permanent"
    assert outcome.error.startswith("refused POST ") and why in outcome.error
    assert outcome.error.endswith("called only when listed in OUTBOUND_ALLOWED_HOSTS")


async def test_names_resolving_to_private_addresses_are_refused_at_connect_time() -> None:
    dns = FakeDns(
        {
            "intranet.example.com": ["10.1.2.3"],
            "metadata.example.com": ["169.254.169.254"],
            "mixed.example.com": ["93.184.216.34", "127.0.0.1"],  # rebinding-style answer
            "localhost": ["127.0.0.1"],
        }
    )
    handler = HttpHandler(allowed_hosts=["*.example.com", "localhost"], resolver=dns)
    try:
        intranet = await handler.perform(call("http://intranet.example.com/x"))
        metadata = await handler.perform(call("http://metadata.example.com/x"))
        mixed = await handler.perform(call("http://mixed.example.com/x"))
        other = await handler.perform(call("http://api.example.org/x"))
    finally:
        await handler.close()
    assert intranet == Failed(
        "refused POST http://intranet.example.com/x: "
        "intranet.example.com resolves to 10.1.2.3, a private address, called only when "
        "intranet.example.com (or the address) is listed in OUTBOUND_ALLOWED_HOSTS"
    )
    assert isinstance(metadata, Failed) and "link-local (cloud metadata)" in metadata.error
    assert isinstance(mixed, Failed) and "resolves to 127.0.0.1, a loopback" in mixed.error
    assert other == Failed(
        "refused POST http://api.example.org/x: api.example.org is not on the outbound "
        "allowlist (OUTBOUND_ALLOWED_HOSTS); add it there to allow it"
    )


async def test_listed_hosts_and_ranges_may_be_private(target: Target) -> None:
    port = target.url.rsplit(":", 1)[1]
    dns = FakeDns({"erp.internal": ["127.0.0.1"], "svc.example.com": ["127.0.0.1"]})
    by_name = HttpHandler(allowed_hosts=["erp.internal"], resolver=dns)
    by_range = HttpHandler(allowed_hosts=["*.example.com", "127.0.0.0/8"], resolver=dns)
    try:
        named = await by_name.perform(call(f"http://erp.internal:{port}/a"))
        ranged = await by_range.perform(call(f"http://svc.example.com:{port}/b"))
        literal = await by_range.perform(call(f"http://127.0.0.1:{port}/c"))
    finally:
        await by_name.close()
        await by_range.close()
    assert [type(o) for o in (named, ranged, literal)] == [Succeeded] * 3
    assert target.paths() == ["POST /a", "POST /b", "POST /c"]


async def test_credentials_in_the_url_never_reach_an_error_message(
    handler: HttpHandler, target: Target
) -> None:
    target.respond("/book", 500)
    url = target.url.replace("http://", "http://ann:hunter2@") + "/book?token={{ secrets.TOKEN }}"
    outcome = await handler.perform(call(url))
    assert isinstance(outcome, Failed)
    assert "hunter2" not in outcome.error and "s3cret" not in outcome.error
    assert outcome.error.startswith(f"POST {target.url}/book returned 500")


async def test_a_malformed_request_fails_for_good(handler: HttpHandler, target: Target) -> None:
    broken_header = await handler.perform(
        call(f"{target.url}/x", headers={"X-Note": "line\\nbreak{{ '\\n' }}Injected: 1"})
    )
    broken_url = await handler.perform(call("http://[not-an-address/x"))
    assert isinstance(broken_header, Failed) and broken_header.reason == "permanent"
    assert isinstance(broken_url, Failed) and broken_url.reason == "permanent"
    assert target.requests == []
