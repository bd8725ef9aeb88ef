"""Start and stop the Slack adapter: Bolt `AsyncApp` over Socket Mode, in the engine's loop."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.background import Background, InFlight, Turns
from bot.channel import SlackChannel
from bot.clients import SlackClients, web_client
from bot.config import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH, SlackConfig
from bot.dedupe import Deduplicator
from bot.deps import Deps
from bot.directory import SlackDirectory
from bot.function_steps import FunctionSteps, MemoryFunctionSteps, StepFinisher
from bot.home import HomeRefreshingChannel, HomeTab
from bot.home_openers import HomeOpeners
from bot.hooks import WebHooks
from bot.listeners import actions, agent_actions, commands, events, functions, views
from bot.message_refs import MessageRefs
from bot.oauth import oauth_routes
from engine import ChannelRouter, EngineApi, EngineError

log = logging.getLogger("countersign.slack")

# Over Socket Mode Bolt sends the ack once the listener returns. Every listener acks, hands its
# engine work to tracked background tasks and returns, so the ack leaves at once. (With False,
# Bolt runs the listener as a task and polls for ack() every 10 ms before it sends the ack.)
ACK_ON_RETURN = True
# Envelopes whose ack carries nothing Slack reads: acked on arrival, before Bolt sees them. The
# others keep their ack in the listener: a modal submission's field errors, a slash command's
# reply, the options a menu loads.
EMPTY_ACK_PAYLOADS = frozenset({"block_actions", "shortcut", "message_action", "view_closed"})


def acked_on_arrival(req: SocketModeRequest) -> bool:
    if req.type == "events_api":
        return True
    return req.type == "interactive" and req.payload.get("type") in EMPTY_ACK_PAYLOADS


class SlackStartError(EngineError):
    """Slack refused to start (a wrong token, Socket Mode not enabled): the message says what
    to fix. Raised once, never retried in a loop; an EngineError so the CLI prints just that."""


class _SocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler that acks first and counts the envelopes in flight (see
    bot/background.py), and can drain: once `draining`, new envelopes are left unacknowledged
    (Slack delivers them again, to another connection or after the restart) while the ones in
    flight finish.

    A click or an event is acked as it arrives and dispatched to Bolt on its turn (`Turns`):
    200 clicks arriving at once are all acked before the first 200 dispatches are done, instead
    of each ack waiting for the dispatches ahead of it. Its listener's own ack() is then not
    sent (Slack has its ack; Bolt's answer carries nothing for these envelopes)."""

    def __init__(
        self, app: AsyncApp, app_token: str, web_client: AsyncWebClient, in_flight: InFlight
    ) -> None:
        super().__init__(app, app_token, web_client=web_client)
        self.draining = False
        self._in_flight = in_flight
        self._turns = Turns()

    async def handle(self, socket: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        if self.draining:
            return
        self._in_flight.begin()
        try:
            if acked_on_arrival(req):
                ack = SocketModeResponse(envelope_id=req.envelope_id)
                await socket.send_socket_mode_response(ack)
                await self._turns.next()
                await run_async_bolt_app(self.app, req)
            else:
                await super().handle(socket, req)  # returns once the ack is sent
        finally:
            self._in_flight.end()

    async def drain(self) -> None:
        self.draining = True
        await self._in_flight.idle.wait()


class SlackService:
    """The running adapter. `stop()` stops taking envelopes, lets those in flight be acked,
    closes the connection, then waits for the work the listeners started.

    `team_id` is the workspace of a single-workspace install (None with OAuth); `http_routes`
    are the install pages the web server must serve with OAuth (none otherwise). Set
    `hooks.sign_in_url` and `hooks.email` once the web server runs."""

    def __init__(
        self,
        app: AsyncApp,
        handler: _SocketModeHandler,
        background: Background,
        directory: SlackDirectory,
        team_id: str | None,
        unsubscribe: Callable[[], None],
        hooks: WebHooks,
        session: aiohttp.ClientSession,
    ) -> None:
        self.app = app
        self.hooks = hooks
        self.handler = handler
        self.directory = directory
        self.team_id = team_id
        flow = app.oauth_flow
        self.http_routes: list[web.RouteDef] = oauth_routes(flow) if flow is not None else []
        self._background = background
        self._unsubscribe = unsubscribe
        self._session = session

    async def settle(self) -> None:
        """Wait until the work the listeners started so far is done (tests, shutdown)."""
        await self._background.drain()

    async def stop(self) -> None:
        await self.handler.drain()
        await self.handler.close_async()  # type: ignore[no-untyped-call]
        self._unsubscribe()
        await self._background.drain()
        await self._session.close()
        log.info("Slack: disconnected")


async def _check_bot_token(client: AsyncWebClient, token: str) -> AuthorizeResult:
    """Who the bot token is (its workspace, bot and bot user), or a clear error."""
    try:
        auth = await client.auth_test()
    except SlackApiError as e:
        raise SlackStartError(
            f"Slack refused SLACK_BOT_TOKEN ({e.response.get('error')}): use the app's Bot User "
            "OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
        ) from e
    return AuthorizeResult(
        enterprise_id=auth.get("enterprise_id"),
        team_id=str(auth["team_id"]),
        bot_token=token,
        bot_id=auth.get("bot_id"),
        bot_user_id=auth.get("user_id"),
    )


def _known(authorized: AuthorizeResult) -> Callable[[], Awaitable[AuthorizeResult]]:
    """Bolt's `authorize` for a single-workspace install: the bot checked once at start.
    (Given the token itself, Bolt calls auth.test on the first request, once per request until
    one answers: a burst of clicks after a start would wait on Slack's Tier 4 limit to be acked.)
    """

    async def authorize() -> AuthorizeResult:
        return authorized

    return authorize


async def _socket_url(client: AsyncWebClient, config: SlackConfig) -> str:
    """A Socket Mode URL, or a clear error about the app-level token."""
    try:
        opened = await client.apps_connections_open(app_token=config.app_token)
    except SlackApiError as e:
        raise SlackStartError(
            f"Slack refused SLACK_APP_TOKEN ({e.response.get('error')}): use an app-level token "
            "(xapp-…) with the connections:write scope, and turn Socket Mode on"
        ) from e
    return str(opened["url"])


def _oauth_app(
    config: SlackConfig,
    installations: AsyncInstallationStore | None,
    states: AsyncOAuthStateStore | None,
    session: aiohttp.ClientSession,
) -> tuple[AsyncApp, SlackClients]:
    if not (config.client_id and config.client_secret and installations and states):
        raise SlackStartError(
            "Slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET (several workspaces, installed from the install page)"
        )
    public = (config.public_url or "").rstrip("/")
    settings = AsyncOAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=BOT_SCOPES,
        installation_store=installations,
        state_store=states,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        redirect_uri=public + REDIRECT_PATH if public else None,
    )
    # Bolt adds each token per request
    base = web_client(None, config.api_url, config.pace, session)
    app = AsyncApp(client=base, oauth_settings=settings, process_before_response=ACK_ON_RETURN)
    clients = SlackClients(
        config.api_url, installations=installations, pace=config.pace, session=session
    )
    return app, clients


async def _app(
    config: SlackConfig,
    installations: AsyncInstallationStore | None,
    oauth_states: AsyncOAuthStateStore | None,
    session: aiohttp.ClientSession,
) -> tuple[AsyncApp, SlackClients, str | None]:
    """Bolt's app and the channel's clients; the workspace of a single-workspace install."""
    if not config.bot_token:
        return (*_oauth_app(config, installations, oauth_states, session), None)
    clients = SlackClients(
        config.api_url, bot_token=config.bot_token, pace=config.pace, session=session
    )
    assert clients.bot is not None
    authorized = await _check_bot_token(clients.bot, config.bot_token)
    app = AsyncApp(
        client=web_client(None, config.api_url, config.pace, session),  # tokens: authorize
        authorize=_known(authorized),
        process_before_response=ACK_ON_RETURN,
    )
    return app, clients, authorized.team_id


async def start_slack(
    engine: EngineApi,
    router: ChannelRouter,
    config: SlackConfig,
    refs: MessageRefs,
    *,
    installations: AsyncInstallationStore | None = None,
    oauth_states: AsyncOAuthStateStore | None = None,
    redis: Redis | None = None,
    hooks: WebHooks | None = None,
    home_openers: HomeOpeners | None = None,
    function_steps: FunctionSteps | None = None,
) -> SlackService:
    """Check the tokens, register the listeners and the "slack" channel, connect Socket Mode.
        `refs` keeps where each card was posted (durable in production: SqlMessageRefs); with OAuth
        (no bot token) `installations` and `oauth_states` keep the workspaces' installations
        (storage.slack_installations). With `redis`, replicas share envelope de-duplication.
        `hooks` (also `SlackService.hooks`) receive the web server's sign-in links and email
        delivery once it is up. `home_openers` keeps who opened their App Home (durable in
        production: storage.slack_home.SqlHomeOpeners; in memory when not given). `function_steps`
    keeps the Workflow Builder steps waiting on runs (durable in production:
    storage.slack_functions.SqlFunctionSteps; in memory when not given)."""
    # One connection pool for every call to Slack, closed by `SlackService.stop`.
    session = aiohttp.ClientSession()
    try:
        app, clients, team_id = await _app(config, installations, oauth_states, session)
        socket_url = await _socket_url(app.client, config)
    except BaseException:
        await session.close()
        raise
    background = Background()
    if home_openers is None:
        log.warning(
            "Slack: who opened their App Home is kept in memory only (no home_openers given): "
            "after a restart, Homes refresh again only once their users open them"
        )
    home = HomeTab(clients, engine, background, home_openers, refs)
    directory = SlackDirectory(clients)
    hooks = hooks or WebHooks()
    channel = SlackChannel(clients, engine, refs, directory, hooks, config.public_url)
    if function_steps is None:
        log.warning(
            "Slack: Workflow Builder steps are kept in memory only (no function_steps given): "
            "a step waiting when the process stops is never finished"
        )
        function_steps = MemoryFunctionSteps()
    channel.finisher = StepFinisher(engine, function_steps, clients)
    deps = Deps(
        engine=engine,
        config=config,
        background=background,
        home=home,
        channel=channel,
        hooks=hooks,
        directory=directory,
        function_steps=function_steps,
    )
    app.use(Deduplicator(redis).middleware)
    for surface in (commands, actions, views, events, agent_actions, functions):
        surface.register(app, deps)
    engine.use_directory(directory)
    router.register("slack", HomeRefreshingChannel(channel, home))
    engine.subscribe(home.on_change)

    def detach() -> None:
        engine.unsubscribe(home.on_change)
        home.close()

    handler = _SocketModeHandler(app, config.app_token, app.client, background.in_flight)
    handler.client.wss_uri = socket_url  # checked above; later reconnects ask for a new one
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
    except BaseException:
        detach()
        await session.close()
        raise
    where = f"workspace {team_id}" if team_id else "every workspace that installs it (OAuth)"
    log.info("Slack: connected to %s over Socket Mode (%s)", where, config.command)
    return SlackService(app, handler, background, directory, team_id, detach, hooks, session)
