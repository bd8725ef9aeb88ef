"""Completion webhooks: signed, delivered through the outbox, retried until acknowledged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.web.support import SIGNAL_FLOW, TENANT, Stack
from web.webhooks import SIGNATURE_HEADER, sign, verify


@dataclass
class Receiver:
    """A webhook receiver as a customer would write one: it verifies the signature."""

    secret: str
    clock: Any
    fail_first: int = 0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        valid = verify(
            self.secret, request.headers.get(SIGNATURE_HEADER, ""), body, self.clock.now()
        )
        self.deliveries.append(
            {
                "valid": valid,
                "payload": json.loads(body),
                "key": request.headers.get("Idempotency-Key"),
                "event": request.headers.get("Countersign-Event"),
            }
        )
        if len(self.deliveries) <= self.fail_first:
            return web.Response(status=500, text="receiver is down")
        return web.Response(status=204)


@pytest.fixture
async def receiver(stack: Stack) -> AsyncIterator[Receiver]:
    rec = Receiver(stack.config.webhook_key, stack.clock)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/hook"
    yield rec
    await runner.cleanup()


async def finish_signal_run(stack: Stack, callback_url: str) -> str:
    await stack.apply(SIGNAL_FLOW)
    async with stack.client(stack.api_key) as http:
        async with http.post(
            "/api/v1/runs", json={"workflow": "deploy", "callback_url": callback_url}
        ) as r:
            run_id = str((await r.json())["run_id"])
        async with http.post(
            f"/api/v1/runs/{run_id}/signals/ci-finished", json={"result": "green"}
        ) as r:
            assert r.status == 200
    await stack.engine.run_until_idle()
    return run_id


async def test_a_finished_run_posts_a_signed_webhook(stack: Stack, receiver: Receiver) -> None:
    run_id = await finish_signal_run(stack, receiver.url)
    assert len(receiver.deliveries) == 1
    delivery = receiver.deliveries[0]
    assert delivery["valid"]
    assert delivery["event"] == "run.finished"
    assert delivery["payload"]["run_id"] == run_id
    assert delivery["payload"]["status"] == "completed"
    assert delivery["payload"]["outputs"]["wait_ci"] == {"payload": {"result": "green"}}


async def test_webhook_is_retried_with_backoff_until_acknowledged(
    stack: Stack, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    await finish_signal_run(stack, receiver.url)
    assert len(receiver.deliveries) == 1  # the first try failed; the retry waits for its time
    for expected in (2, 3):
        stack.clock.advance(timedelta(minutes=1))
        await stack.engine.run_until_idle()
        assert len(receiver.deliveries) == expected
    stack.clock.advance(timedelta(hours=1))
    await stack.engine.run_until_idle()
    assert len(receiver.deliveries) == 3  # acknowledged: never sent again
    assert all(d["valid"] for d in receiver.deliveries)
    assert len({d["key"] for d in receiver.deliveries}) == 1


async def test_webhook_retries_stop_after_the_give_up_period(
    stack: Stack, receiver: Receiver
) -> None:
    receiver.fail_first = 1_000
    await finish_signal_run(stack, receiver.url)
    stack.clock.advance(stack.config.webhook_give_up + timedelta(seconds=1))
    await stack.engine.run_until_idle()
    assert len(receiver.deliveries) == 2  # one last try, then it gives up
    stack.clock.advance(timedelta(days=1))
    await stack.engine.run_until_idle()
    assert len(receiver.deliveries) == 2
    open_commands, _ = await stack.engine.outbox.pending_count(stack.clock.now())
    assert open_commands == 0


def test_signatures_are_refused_when_tampered_or_stale() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    body = b'{"run_id": "r1"}'
    header = sign("s3cret", int(now.timestamp()), body)
    assert verify("s3cret", header, body, now)
    assert not verify("s3cret", header, b'{"run_id": "r2"}', now)
    assert not verify("other", header, body, now)
    assert not verify("s3cret", header, body, now + timedelta(minutes=10))
    assert not verify("s3cret", "garbage", body, now)


async def test_callback_urls_into_our_own_network_are_refused(stack: Stack) -> None:
    await stack.apply(SIGNAL_FLOW)
    async with stack.client(stack.api_key) as http:
        for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.7/hook"):
            body = {"workflow": "deploy", "callback_url": url}
            async with http.post("/api/v1/runs", json=body) as r:
                assert r.status == 422
                error = (await r.json())["error"]
            assert error["details"][0]["field"] == "callback_url"
    # A run that names such a URL anyway (e.g. started before the allowlist changed) is not sent.
    run = await stack.engine.start_run(
        TENANT, "deploy", {}, "U0REQ", callback_url="http://192.168.1.1/hook"
    )
    await stack.engine.signal(TENANT, run.run_id, "ci-finished", {})
    await stack.engine.run_until_idle()
    open_commands, _ = await stack.engine.outbox.pending_count(stack.clock.now())
    assert open_commands == 0  # refused for good, not retried
