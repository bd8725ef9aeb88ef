"""Several workspaces: a workspace installs the app through the install page (Bolt's OAuth
flow, served by aiohttp), then its people use it with its own bot token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.blocks import ids
from bot.config import SlackConfig
from bot.message_refs import MessageRef
from bot.service import SlackService, start_slack
from engine.runtime.service import Engine
from storage import open_storage
from storage.slack_installations import installation_store, oauth_state_store
from storage.slack_messages import SqlMessageRefs
from tests.fakeslack import FakeSlack
from tests.fakeslack import payloads as p
from tests.slack.harness import SlackUsers, fake_slack

OTHER = "T222"
PING = """
name: ping
steps:
  - id: ok
    type: approval
    approvers: [UBOB]
"""


@pytest.fixture
async def oauth_app(tmp_path: Path) -> AsyncIterator[tuple[FakeSlack, Engine, SlackService, str]]:
    fake = fake_slack()
    await fake.start()
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'cs.db'}", create=True)
    engine = Engine.from_storage(storage)
    await engine.start()
    site_app = web.Application()
    runner = web.AppRunner(site_app)
    config = SlackConfig(
        bot_token=None,
        app_token=fake.app_token,
        api_url=fake.api_url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
    )
    service = await start_slack(
        engine,
        engine.router,
        config,
        SqlMessageRefs(storage.engine, MessageRef),
        installations=installation_store(storage.engine, fake.client_id),
        oauth_states=oauth_state_store(storage.engine),
    )
    site_app.add_routes(service.http_routes)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake, engine, service, f"http://127.0.0.1:{port}"
    finally:
        await service.stop()
        await runner.cleanup()
        await engine.stop()
        await storage.close()
        await fake.stop()


async def install(base: str, fake: FakeSlack, team_id: str, token: str) -> str:
    """What a workspace admin's browser does: open the install page, follow "Add to Slack",
    and come back from Slack's consent screen with a code. Returns the final page."""
    async with aiohttp.ClientSession() as browser:
        page = await browser.get(f"{base}/slack/install")
        html = await page.text()
        state = re.search(r"state=([\w-]+)", html)
        assert state, html
        cookie = page.headers["Set-Cookie"].split(";")[0]  # sent back as a browser would
        code = fake.add_workspace(team_id, token)
        back = await browser.get(
            f"{base}/slack/oauth_redirect",
            params={"code": code, "state": state.group(1)},
            headers={"Cookie": cookie},
        )
        assert back.status == 200, await back.text()
        return await back.text()


# slack_sdk's oauth.v2.access still builds aiohttp.BasicAuth, deprecated in aiohttp 3.14.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_a_workspace_installs_then_works_with_its_own_token(
    oauth_app: tuple[FakeSlack, Engine, SlackService, str],
) -> None:
    fake, engine, service, base = oauth_app
    assert service.team_id is None and len(service.http_routes) == 2
    await install(base, fake, OTHER, "xoxb-workspace-two")

    await engine.apply_definition(OTHER, PING)
    run = await engine.start_run(OTHER, "ping", {}, "UADA")
    users = SlackUsers(fake)
    card = await users.card("UBOB")
    posts = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "DUBOB"]
    assert posts[0].token == "xoxb-workspace-two"

    env = await fake.send("interactive", p.block_action("UBOB", card, ids.APPROVE, team_id=OTHER))
    await fake.ack(env)
    await fake.wait_until(
        lambda: "Approved" in str(fake.messages[(card["channel"], card["ts"])]["blocks"])
    )
    assert (await engine.get_run(OTHER, run.run_id)).status == "completed"
    users.assert_every_envelope_acked_in_time()
