"""/metrics behind METRICS_TOKEN (open without one), and nothing in it tells tenants apart."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from cli.settings import Settings
from cli.wiring import build, shutdown
from engine.testing import ManualClock
from storage import Storage
from tests.web.support import OTHER_TENANT, TENANT, approval_flow, web_stack

TOKEN = "metrics-token-0123456789"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer k\u00ff"]
)
async def test_metrics_want_the_token_when_one_is_set(
    storage: Storage, clock: ManualClock, tmp_path: Path, authorization: str | None
) -> None:
    async with web_stack(storage, clock, tmp_path, metrics_token=TOKEN) as stack:
        headers = {"Authorization": authorization} if authorization else {}
        async with stack.client() as http, http.get("/metrics", headers=headers) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            text = await r.text()
    assert "countersign_" not in text and "METRICS_TOKEN" in text


async def test_metrics_with_the_token_sum_all_tenants_and_name_none(
    storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    async with web_stack(storage, clock, tmp_path, metrics_token=TOKEN) as stack:
        for tenant in (TENANT, OTHER_TENANT):
            await stack.apply(approval_flow("U0ALICE"), tenant)
            await stack.engine.start_run(tenant, "purchase", {"item": "desk"}, "U0BOB")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with stack.client() as http, http.get("/metrics", headers=headers) as r:
            assert r.status == 200
            text = await r.text()
    assert 'countersign_runs{status="running"} 2' in text
    assert "countersign_pending_human_tasks 2" in text
    for private in (TENANT, OTHER_TENANT, "purchase", "U0ALICE", "U0BOB"):
        assert private not in text
    assert set(re.findall(r"[{,](\w+)=", text)) == {"status", "le"}  # no tenant label


async def test_the_metrics_token_setting_reaches_the_web_server(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'wired.db'}",
        http_port=0,
        secret_key="k" * 32,
        metrics_token=TOKEN,
        outbox_mail_dir=tmp_path / "mail",
    )
    parts = await build(settings)
    try:
        assert parts.web is not None
        async with aiohttp.ClientSession() as http, http.get(f"{parts.web.url}/metrics") as r:
            assert r.status == 401
    finally:
        await shutdown(parts)
