"""`python app.py` with the two Slack tokens serves Slack: the real process, the fake Slack.

Only the environment differs from production: SLACK_API_URL points at the fake.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bot.blocks import ids
from tests.fakeslack import FakeSlack
from tests.slack.conftest import PURCHASE
from tests.slack.harness import ADMIN, SlackUsers

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(fake: FakeSlack, tmp_path: Path, **extra: str) -> dict[str, str]:
    workflows = tmp_path / "workflows"
    workflows.mkdir(exist_ok=True)
    (workflows / "purchase.yaml").write_text(PURCHASE)
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_APP_TOKEN": fake.app_token,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "WORKFLOWS_DIR": str(workflows),
        "HTTP_PORT": str(free_port()),
        "ADMINS": f'["{ADMIN}"]',
        **extra,
    }


async def start_app(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def until_ready(app: asyncio.subprocess.Process) -> list[str]:
    """The log lines up to "ready" (bundled workflows applied, Slack connected)."""
    assert app.stdout is not None
    lines: list[str] = []
    while not lines or " ready" not in lines[-1]:
        line = await asyncio.wait_for(app.stdout.readline(), 30)
        assert line, "the app exited before it was ready:\n" + "".join(lines)
        lines.append(line.decode())
    return lines


async def test_app_py_runs_a_workflow_from_slack_and_stops_on_sigterm(
    fake: FakeSlack, tmp_path: Path
) -> None:
    app = await start_app(app_env(fake, tmp_path), tmp_path)
    try:
        log = await until_ready(app)
        assert any("Slack: connected to workspace T111" in line for line in log), log
        users = SlackUsers(fake)
        await users.command("UADA", "start purchase")
        view = await users.opened_view("UADA")
        await users.submit("UADA", view, {"item": "Monitor", "amount": "250"})
        bob, cat = await users.card("UBOB"), await users.card("UCAT")
        await users.click("UBOB", bob, ids.APPROVE)
        await users.click("UCAT", cat, ids.APPROVE)
        await users.card_in("DUADA", "completed")  # the requester's message, updated in place
        users.assert_every_envelope_acked_in_time()
        app.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(app.communicate(), 30)
        assert app.returncode == 0, output.decode()
        await fake.wait_until(lambda: fake.open_connections == 0)  # the app closed its socket
    finally:
        if app.returncode is None:
            app.kill()
            await app.wait()


async def test_app_py_with_a_wrong_token_says_so_and_exits(fake: FakeSlack, tmp_path: Path) -> None:
    env = app_env(fake, tmp_path, SLACK_BOT_TOKEN="xoxb-revoked")
    app = await start_app(env, tmp_path)
    output, _ = await asyncio.wait_for(app.communicate(), 30)
    text = output.decode()
    assert app.returncode != 0
    assert "SLACK_BOT_TOKEN (invalid_auth)" in text
    assert "Traceback" not in text
    assert len(fake.calls_to("auth.test")) == 1  # no retry loop


async def test_app_py_wires_workflow_web_to_its_web_server(fake: FakeSlack, tmp_path: Path) -> None:
    env = app_env(fake, tmp_path)
    base = f"http://127.0.0.1:{env['HTTP_PORT']}"
    app = await start_app({**env, "PUBLIC_URL": base}, tmp_path)
    try:
        await until_ready(app)
        users = SlackUsers(fake)
        await users.command("UBOB", "web")
        dm = await users.dm("UBOB", "/signin/")
        link = re.search(r"<(http[^|>]+)\|Open the Countersign dashboard>", str(dm["blocks"]))
        assert link is not None and link.group(1).startswith(base + "/signin/")
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from an IP address
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.get(link.group(1)) as r:
                page = await r.text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert r.status == 200 and csrf is not None
            async with browser.post(link.group(1), data={"csrf": csrf.group(1)}) as r:
                assert r.status == 200 and "Waiting on me" in await r.text()
    finally:
        app.kill()
        await app.wait()


async def test_app_py_refreshes_an_opened_home_after_a_restart(
    fake: FakeSlack, tmp_path: Path
) -> None:
    env = app_env(fake, tmp_path)
    users = SlackUsers(fake)

    def bob_homes() -> list[str]:
        return [
            str(c.args["view"])
            for c in fake.calls_to("views.publish")
            if c.args["user_id"] == "UBOB"
        ]

    app = await start_app(env, tmp_path)
    try:
        await until_ready(app)
        await users.open_home("UBOB")
        await fake.wait_until(lambda: len(bob_homes()) == 1)
        app.send_signal(signal.SIGTERM)
        await asyncio.wait_for(app.communicate(), 30)
        app = await start_app(env, tmp_path)  # who opened their Home is kept in the database
        await until_ready(app)
        await users.command("UADA", "start purchase")
        view = await users.opened_view("UADA")
        await users.submit("UADA", view, {"item": "Monitor", "amount": "250"})
        await users.card("UBOB")
        # Bob did not open his Home again, yet the new request waits on him there.
        line = "*purchase* · Item: Monitor, amount: 250 · step *Managers approve*"
        await fake.wait_until(lambda: any(line in h for h in bob_homes()))
    finally:
        if app.returncode is None:
            app.kill()
            await app.wait()
