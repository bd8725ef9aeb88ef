"""What `python app.py` wires from its settings, seen through the adapters it starts."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from cli.settings import Settings
from cli.wiring import build, shutdown
from tests.web.forms import csrf_of

FLOW = """
name: wired
steps:
  - {id: manager, type: approval, approvers: ["U0BOB"]}
"""


@pytest.mark.asyncio
async def test_admins_setting_reaches_the_dashboard(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port, so that links name where the server listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'wired.db'}",
        http_host="127.0.0.1",
        http_port=port,
        public_url=base,
        admins=["U0ADMIN"],
        secret_key="k" * 32,
        outbox_mail_dir=tmp_path / "mail",
    )
    parts = await build(settings)
    try:
        await parts.engine.apply_definition(parts.tenant, FLOW)
        run = await parts.engine.start_run(parts.tenant, "wired", {}, "U0REQ")
        pages = {}
        for user in ("U0ADMIN", "U0REQ"):
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
                link = parts.web.sign_in_url(parts.tenant, user)
                async with client.get(link) as confirm:
                    form = {"csrf": csrf_of(await confirm.text())}
                async with client.post(link, data=form) as signed_in:
                    assert signed_in.status == 200
                async with client.get(f"{base}/runs/{run.run_id}") as response:
                    pages[user] = await response.text()
        assert "Reassign step manager" in pages["U0ADMIN"]
        assert "Reassign step manager" not in pages["U0REQ"]
    finally:
        await shutdown(parts)
