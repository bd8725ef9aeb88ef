"""What `python app.py` wires from its settings, seen through the adapters it starts."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from cli.serve import apply_bundled
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


@pytest.mark.asyncio
async def test_bundled_workflows_apply_and_say_what_they_skip(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bundled.db'}",
        secret_key="k" * 32,
        outbox_mail_dir=tmp_path / "mail",
        http_port=0,
    )
    folder = tmp_path / "workflows"
    folder.mkdir()
    parts = await build(settings)
    try:
        with caplog.at_level(logging.INFO, logger="countersign"):
            await apply_bundled(parts, parts.tenant, folder)
            assert "no workflow files in" in caplog.text
            (folder / "good.yaml").write_text(FLOW)
            (folder / "broken.yaml").write_text("name: broken\nsteps: []\n")
            caplog.clear()
            await apply_bundled(parts, parts.tenant, folder)
        assert "skipping" in caplog.text and "broken.yaml" in caplog.text
        assert "workflow wired (good.yaml): version 1 created" in caplog.text
        assert [d.name for d in await parts.engine.list_definitions(parts.tenant)] == ["wired"]
    finally:
        await shutdown(parts)
