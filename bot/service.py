"""Start and stop the Slack adapter: Bolt `AsyncApp` over Socket Mode, in the engine's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.background import Background
from bot.channel import SlackChannel
from bot.clients import SlackClients
from bot.config import SlackConfig
from bot.dedupe import Deduplicator
from bot.deps import Deps
from bot.directory import SlackDirectory
from bot.home import HomeTab
from bot.listeners import actions, commands, events, views
from bot.message_refs import MessageRefs
from engine.errors import EngineError
from engine.runtime.router import ChannelRouter
from engine.runtime.service import Engine

log = logging.getLogger("countersign.slack")


class SlackStartError(EngineError):
    """Slack refused to start (a wrong token, Socket Mode not enabled): the message says what
    to fix. Raised once, never retried in a loop; an EngineError so the CLI prints just that."""


class _SocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler that can drain: once `draining`, new envelopes are left
    unacknowledged (Slack delivers them again, to another connection or after the restart)
    while the ones in flight finish and send their acks."""

    def __init__(self, app: AsyncApp, app_token: str, web_client: AsyncWebClient) -> None:
        super().__init__(app, app_token, web_client=web_client)
        self.draining = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        if self.draining:
            return
        self._in_flight += 1
        self._idle.clear()
        try:
            await super().handle(client, req)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def drain(self) -> None:
        self.draining = True
        await self._idle.wait()


class SlackService:
    """The running adapter. `stop()` stops taking envelopes, lets those in flight be acked,
    closes the connection, then waits for the work the listeners started."""

    def __init__(
        self,
        app: AsyncApp,
        handler: _SocketModeHandler,
        background: Background,
        directory: SlackDirectory,
        team_id: str,
        unsubscribe: Callable[[], None],
    ) -> None:
        self.app = app
        self.handler = handler
        self.directory = directory
        self.team_id = team_id
        self._background = background
        self._unsubscribe = unsubscribe

    async def stop(self) -> None:
        await self.handler.drain()
        await self.handler.close_async()  # type: ignore[no-untyped-call]
        self._unsubscribe()
        await self._background.drain()
        log.info("Slack: disconnected")


async def _check_tokens(client: AsyncWebClient, config: SlackConfig) -> tuple[str, str]:
    """(team id, Socket Mode URL), or a clear error naming the token that is wrong."""
    try:
        auth = await client.auth_test()
    except SlackApiError as e:
        raise SlackStartError(
            f"Slack refused SLACK_BOT_TOKEN ({e.response.get('error')}): use the app's Bot User "
            "OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
        ) from e
    try:
        opened = await client.apps_connections_open(app_token=config.app_token)
    except SlackApiError as e:
        raise SlackStartError(
            f"Slack refused SLACK_APP_TOKEN ({e.response.get('error')}): use an app-level token "
            "(xapp-…) with the connections:write scope, and turn Socket Mode on"
        ) from e
    return str(auth["team_id"]), str(opened["url"])


async def start_slack(
    engine: Engine, router: ChannelRouter, config: SlackConfig, refs: MessageRefs
) -> SlackService:
    """Check the tokens, register the listeners and the "slack" channel, connect Socket Mode.
    `refs` keeps where each card was posted (durable in production: SqlMessageRefs)."""
    clients = SlackClients(config.api_url, bot_token=config.bot_token)
    client = clients.bot
    assert client is not None
    team_id, socket_url = await _check_tokens(client, config)
    background = Background()
    home = HomeTab(clients, engine, background)
    channel = SlackChannel(clients, engine, refs)
    deps = Deps(engine=engine, config=config, background=background, home=home, channel=channel)
    app = AsyncApp(client=client, process_before_response=False)
    app.use(Deduplicator().middleware)
    for surface in (commands, actions, views, events):
        surface.register(app, deps)
    directory = SlackDirectory(clients)
    engine.use_directory(directory)
    router.register("slack", channel)
    engine.subscribe(home.on_change)
    handler = _SocketModeHandler(app, config.app_token, client)
    handler.client.wss_uri = socket_url  # checked above; later reconnects ask for a new one
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("Slack: connected to workspace %s over Socket Mode (%s)", team_id, config.command)
    return SlackService(
        app, handler, background, directory, team_id, lambda: engine.unsubscribe(home.on_change)
    )
