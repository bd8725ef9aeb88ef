"""The Web API client for a workspace.

A single-workspace install has one bot token. A multi-workspace install (OAuth) finds each
workspace's bot token in its installation, saved by Bolt's OAuth flow. Either way every client
shares the API URL and slack_sdk's retry handlers (rate limits wait for Retry-After; connection
and 5xx errors are retried), and each workspace's calls are paced to its rate limits
(bot/pacing.py). Given a `session`, every client's calls share its keep-alive connections;
without one, slack_sdk opens (and closes) a new connection, with its TLS handshake, per call.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import AsyncServerErrorRetryHandler
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.pacing import PacedWebClient, Pacer, retry_handlers
from engine import NotFound

DEFAULT_API_URL = "https://slack.com/api/"


def web_client(
    token: str | None,
    api_url: str | None,
    pace: float | None = 1.0,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """A client for one workspace, with its own pacer (Slack's limits are per workspace);
    `pace` scales Slack's rates (None: not paced, see `Pacer`)."""
    pacer = Pacer(pace)
    base_url = api_url or DEFAULT_API_URL
    client = PacedWebClient(token=token, base_url=base_url, pacer=pacer, session=session)
    client.retry_handlers.extend(retry_handlers(pacer))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


class SlackClients:
    def __init__(
        self,
        api_url: str | None,
        *,
        bot_token: str | None = None,
        installations: AsyncInstallationStore | None = None,
        pace: float | None = 1.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if (bot_token is None) == (installations is None):
            raise ValueError("give a bot token (one workspace) or an installation store (OAuth)")
        self.api_url = api_url
        self.pace = pace
        self.session = session
        self.bot = web_client(bot_token, api_url, pace, session) if bot_token else None
        self._installations = installations
        self._by_tenant: dict[str, tuple[str, AsyncWebClient]] = {}

    async def for_tenant(self, tenant_id: str) -> AsyncWebClient:
        if self.bot is not None:
            return self.bot
        assert self._installations is not None
        bot = await self._installations.async_find_bot(enterprise_id=None, team_id=tenant_id)
        if bot is None or not bot.bot_token:
            raise NotFound(f"Countersign is not installed in the Slack workspace {tenant_id}")
        cached = self._by_tenant.get(tenant_id)
        if cached is None or cached[0] != bot.bot_token:  # reinstalled: a new token
            cached = (bot.bot_token, self.with_token(bot.bot_token))
            self._by_tenant[tenant_id] = cached
        return cached[1]

    @property
    def closed(self) -> bool:
        """The shared connections are closed: Slack was stopped."""
        return self.session is not None and self.session.closed

    def with_token(self, token: str) -> AsyncWebClient:
        """A client for another token (a workspace's, a Workflow Builder step's), paced on its
        own and sharing the connections."""
        return web_client(token, self.api_url, self.pace, self.session)
