"""The web adapter on a real engine and real storage, for the web and mail tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.audit_log import run_bundles
from engine.access import AccessStores
from engine.runtime.service import Engine
from engine.testing import ManualClock
from storage import Storage
from storage.access import SqlMetrics, sql_access_stores
from web.config import WebConfig
from web.service import WebService, start_web

TENANT = "T0TEST"
OTHER_TENANT = "T0OTHER"
SECRET = "test-secret-key-0123456789abcdef"

APPROVAL_FLOW = """
name: purchase
title: Purchase approval
inputs:
  - id: item
    type: text
    required: true
  - id: amount
    type: number
steps:
  - id: manager
    type: approval
    title: Manager approval
    approvers: ["{{ inputs.approver }}"]
    message: "Please approve {{ inputs.item }} for {{ inputs.amount }}"
    fields:
      - id: comment
        type: text
        required_on: reject
  - id: done
    type: notify
    to: requester
    message: "{{ inputs.item }} was {{ steps.manager.decision }}"
"""


def approval_flow(approver: str) -> str:
    """The purchase workflow with a fixed approver (email or Slack id)."""
    return APPROVAL_FLOW.replace('"{{ inputs.approver }}"', f'"{approver}"')


SIGNAL_FLOW = """
name: deploy
steps:
  - id: wait_ci
    type: signal
    name: ci-finished
  - id: tell
    type: notify
    to: requester
    message: "CI said {{ steps.wait_ci.payload.result }}"
"""


@dataclass
class Stack:
    engine: Engine
    web: WebService
    access: AccessStores
    clock: ManualClock
    config: WebConfig
    outbox_dir: Path
    api_key: str = ""
    other_key: str = ""

    def path(self, url: str) -> str:
        """The path and query of a link (links carry the public URL, tests talk to `web.url`)."""
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def client(self, key: str | None = None) -> aiohttp.ClientSession:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return aiohttp.ClientSession(
            base_url=self.web.url, headers=headers, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )

    async def apply(self, text: str, tenant: str = TENANT) -> None:
        await self.engine.apply_definition(tenant, text)


@asynccontextmanager
async def web_stack(
    storage: Storage, clock: ManualClock, tmp_path: Path, **config: Any
) -> AsyncIterator[Stack]:
    engine = Engine.from_storage(storage, clock=clock)
    access = sql_access_stores(storage.engine)
    outbox_dir = tmp_path / "outbox-mail"
    config.setdefault("public_url", "http://countersign.test")
    config.setdefault("webhook_allowed_hosts", ("127.0.0.1",))  # the tests' receivers
    settings = WebConfig(
        secret_key=SECRET, host="127.0.0.1", port=0, outbox_mail_dir=str(outbox_dir), **config
    )
    audit_key = Ed25519PrivateKey.generate()
    service = await start_web(
        engine,
        engine.router,
        settings,
        access,
        readiness=storage,
        metrics_source=SqlMetrics(storage.engine),
        audit_bundle=run_bundles(storage, lambda: audit_key),  # as cli.wiring does
    )
    stack = Stack(engine, service, access, clock, settings, outbox_dir)
    stack.api_key = (await access.api_keys.create_key(TENANT, "tests", clock.now())).secret
    stack.other_key = (await access.api_keys.create_key(OTHER_TENANT, "other", clock.now())).secret
    try:
        yield stack
    finally:
        await service.stop()
        await engine.stop()
