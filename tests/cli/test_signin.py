"""Operator sign-in without Slack, through the real process (`python app.py`): the first start
prints a one-time link next to the URL line, `countersign signin` prints more, and each opens a
dashboard session; without ADMINS the operator administers the local workspace."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from cli.main import main
from cli.settings import Settings
from cli.wiring import build, shutdown
from tests.slack.test_app_process import free_port, until_ready

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(http://\S+/signin/\S+)")


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "PUBLIC_URL", "ADMINS", "TENANT"))
    }
    return {
        **env,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "WORKFLOWS_DIR": str(ROOT / "manifests" / "workflows"),
        "HTTP_PORT": str(free_port()),
        "SECRETS": '{"ERP_TOKEN": "t"}',  # so the bundled expense workflow applies
        **extra,
    }


async def app(env: dict[str, str], cwd: Path, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def command(env: dict[str, str], cwd: Path, *argv: str) -> str:
    """Run one CLI command to its end; its output."""
    proc = await app(env, cwd, *argv)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)


async def open_link(url: str) -> tuple[aiohttp.ClientSession, str]:
    """Follow a sign-in link as a browser does (open, press Continue); the signed-in browser
    and the page it lands on."""
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with browser.get(url) as r:
        page = await r.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert r.status == 200 and csrf is not None, page
    async with browser.post(url, data={"csrf": csrf.group(1)}) as r:
        assert r.status == 200
        return browser, await r.text()


async def test_first_start_prints_a_link_once_and_signin_prints_more(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    port = env["HTTP_PORT"]
    base = f"http://localhost:{port}"
    server = await app(env, tmp_path)
    try:
        log = await until_ready(server)
        listening = next(i for i, line in enumerate(log) if "web: listening on" in line)
        offer = log[listening + 1]  # right under the URL line
        assert "sign in to the dashboard as cli:" in offer and "(admin)" in offer, log
        link = LINK.search(offer)
        assert link is not None
        # PUBLIC_URL is unset: links follow HTTP_PORT, so they reach this server.
        assert link.group(1).startswith(f"http://localhost:{port}/signin/")

        # The page a signed-out browser lands on names the command.
        async with aiohttp.ClientSession() as anonymous, anonymous.get(f"{base}/signin") as r:
            assert "<code>countersign signin</code>" in await r.text()

        browser, home = await open_link(link.group(1))
        async with browser:
            assert "Waiting on me" in home
            # The operator administers the workspace: a waiting step can be reassigned.
            started = await command(
                env,
                tmp_path,
                *("--json", "runs", "start", "expense-approval", "--as", "U0ALICE"),
                *("-i", "amount=12", "-i", "description=Taxi", "-i", "manager=U0BOB"),
            )
            run_id = json.loads(started)["run_id"]
            run_page = f"http://localhost:{port}/runs/{run_id}"
            async with browser.get(run_page) as r:
                page = await r.text()
            assert "Reassign step manager" in page
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            form = {"csrf": csrf.group(1), "from": "U0BOB", "to": "U0CAT", "reason": "on leave"}
            async with browser.post(f"{run_page}/steps/manager/reassign", data=form) as r:
                assert r.status == 200
                assert "reassigned step manager from U0BOB to U0CAT" in await r.text()
            # The link worked once.
            async with browser.get(link.group(1)) as r:
                assert r.status == 409 and "already used" in await r.text()

        # `countersign signin --as` signs in someone else (not an admin: an email approver).
        printed = await command(env, tmp_path, "signin", "--as", "carol@example.com")
        assert "email:carol@example.com (member)" in printed
        other = LINK.search(printed)
        assert other is not None
        browser, home = await open_link(other.group(1))
        async with browser:
            assert "carol@example.com" in home
            async with browser.get(run_page) as r:
                assert r.status == 404  # an email approver sees only runs they take part in
    finally:
        await stop(server)

    # Started again: no new link in the log, only how to get one.
    server = await app(env, tmp_path)
    try:
        log = await until_ready(server)
        assert not any(LINK.search(line) for line in log), log
        assert any("`countersign signin` prints a one-time link" in line for line in log)
    finally:
        await stop(server)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ADMINS", "PUBLIC_URL", "TENANT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def signin(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["--json", "signin", *argv]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_signin_role_follows_admins(
    local: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A link only works with the key the server signs with: a key made just now is pointed out.
    assert main(["signin"]) == 0
    assert "generated a new secret key" in capsys.readouterr().err
    assert main(["signin"]) == 0
    assert "secret key" not in capsys.readouterr().err
    # No ADMINS on the local workspace: whoever the operator signs in administers it.
    assert signin(capsys, "--as", "U0BOB")["admin"] is True
    assert signin(capsys, "--as", "bob@example.com")["principal"] == "email:bob@example.com"
    assert signin(capsys, "--as", "bob@example.com")["admin"] is False
    monkeypatch.setenv("ADMINS", "U0ANN, U0CAT")  # comma-separated
    assert signin(capsys, "--as", "U0BOB")["admin"] is False
    assert signin(capsys, "--as", "U0CAT")["admin"] is True
    monkeypatch.setenv("HTTP_PORT", "8090")
    url = str(signin(capsys, "--tenant", "T0OTHER")["url"])
    assert url.startswith("http://localhost:8090/signin/")


async def test_the_first_start_link_is_logged_once_per_database(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=database_url,
        secret_key="k" * 32,
        outbox_mail_dir=tmp_path / "mail",
        http_port=0,
        admins=[],
        slack_bot_token=None,
        slack_app_token=None,
    )
    logged: list[list[str]] = []
    running = []
    for restart in (False, False, True):  # a first start, a second replica beside it, a restart
        if restart:
            for parts in running:
                await shutdown(parts)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="countersign"):
            running.append(await build(settings))
        logged.append([r.getMessage() for r in caplog.records])
    await shutdown(running[-1])
    links = [[m for m in messages if LINK.search(m)] for messages in logged]
    assert len(links[0]) == 1 and "sign in to the dashboard as cli:" in links[0][0]
    assert links[1] == [] and links[2] == []
    assert any("`countersign signin` prints a one-time link" in m for m in logged[2])
