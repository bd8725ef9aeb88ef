"""A fake Slack that speaks the real protocols, for end-to-end tests of the Bolt app.

- Web API: `POST|GET /api/<method>` with a Bearer token, form, JSON or query arguments, exactly
  what slack_sdk's `AsyncWebClient(base_url=<api_url>)` sends. Every call is recorded with the time
  it arrived on the fake's own monotonic clock. Responses follow the shapes of
  `shared/slack-samples/web-api/`.
- Socket Mode: `apps.connections.open` (with the app-level token) hands out a one-time
  `ws://127.0.0.1:PORT/link/?ticket=...`; on connect the fake sends `hello`, then the test pushes
  envelopes and awaits the app's acknowledgement for each `envelope_id`. Envelopes left unacked
  when a connection closes are delivered again (retry_attempt + 1) on the next one, as Slack does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakeslack import web_api
from tests.fakeslack.limits import RateLimits, limit_of
from tests.fakeslack.methods import SlackMethods

JSON_ARGS = ("blocks", "view", "attachments", "metadata")
WAIT = 10.0  # seconds: a safety net so a broken app fails a test instead of hanging it


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float  # the fake's monotonic clock
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    limit: str | None = None  # the rate limit it fell under, when limits are enforced
    order: int = 0  # place among everything the fake saw (calls and acks), see `FakeSlack.seen`


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    retry_attempt: int = 0
    sent_at: float | None = None  # last delivery
    acked_at: float | None = None
    acked_order: int | None = None  # place of the ack among the calls (ApiCall.order)
    ack_payload: dict[str, Any] | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    def frame(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.type != "events_api",
            "retry_attempt": self.retry_attempt,
            "retry_reason": "timeout" if self.retry_attempt else "",
        }

    @property
    def ack_seconds(self) -> float:
        assert self.sent_at is not None and self.acked_at is not None, "not acked"
        return self.acked_at - self.sent_at


class FakeSlack(SlackMethods):
    """Start with `await fake.start()`; point the app at `fake.api_url`."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot",
        app_token: str = "xapp-fake-app",
        team_id: str = "T111",
        team: str = "Fake Workspace",
        bot_user_id: str = "UBOT",
        wait: float = WAIT,
        limits: bool = False,
        speed: float = 1.0,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team = team
        self.bot_user_id = bot_user_id
        self.wait = wait  # how long wait_until / ack wait before failing
        self.teams: dict[str, str] = {bot_token: team_id}  # bot token -> workspace
        self.oauth_codes: dict[str, tuple[str, str]] = {}  # code -> (workspace, bot token)
        self.client_id, self.client_secret = "111.222", "fake-client-secret"
        self.calls: list[ApiCall] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, dict[str, Any]] = {}  # id -> conversations.list entry + members
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # view id -> view as last opened/updated
        self.home: dict[str, dict[str, Any]] = {}  # user id -> published App Home view
        self.envelopes: dict[str, Envelope] = {}
        self.connections = 0  # WebSocket connections accepted so far
        self._rate_limits: dict[str, list[int]] = {}  # method -> [times left, retry after]
        # Slack's published rate limits (tests.fakeslack.limits), off unless asked for
        self.limits: RateLimits | None = RateLimits(speed) if limits else None
        self._failures: dict[str, list[Any]] = {}  # method -> [times left, error]
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Condition()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.seen = itertools.count(1)  # one sequence for API calls and acks: what came first
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._link)
        app.router.add_post("/respond/{id}", self._respond)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ------------------------------------------------------------------ setup by tests

    def add_user(
        self, user_id: str, name: str, *, email: str | None = None, tz: str = "Europe/Paris"
    ) -> None:
        self.users[user_id] = web_api.user(self.team_id, user_id, name, email, tz)

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        self.usergroups[group_id] = list(members)

    def add_channel(
        self, channel_id: str, name: str, members: list[str], *, private: bool = False
    ) -> None:
        """A channel (shape of a conversations.list entry) and who is in it."""
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_channel": not private,
            "is_group": private,
            "is_private": private,
            "is_archived": False,
            "is_member": True,
            "created": 1700000000,
            "num_members": len(members),
            "members": list(members),
        }

    def add_workspace(self, team_id: str, bot_token: str) -> str:
        """Another workspace that can install the app: returns the OAuth code Slack would hand
        to the app's redirect URL after the user clicks Allow."""
        code = f"code-{team_id}"
        self.oauth_codes[code] = (team_id, bot_token)
        return code

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and `Retry-After`."""
        self._rate_limits[method] = [times, retry_after]

    def enforce_limits(self, speed: float = 1.0) -> None:
        """From now on, answer calls over Slack's published rate limits with 429 (`speed`
        scales the rates, for tests); `limits=True` at construction does the same."""
        self.limits = RateLimits(speed)

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}`
        (HTTP 200, as Slack answers a refused call)."""
        self._failures[method] = [times, error]

    def deactivate(self, user_id: str) -> None:
        """The person's account is deactivated: users.info shows `deleted`, DMs are refused."""
        self.users[user_id]["deleted"] = True

    # ------------------------------------------------------------------ assertions

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    async def wait_until(self, check: Callable[[], Any]) -> Any:
        """Wait until `check()` returns something truthy (re-checked after every API call,
        connection and ack) and return it."""

        async def loop() -> Any:
            async with self._changed:
                while not (result := check()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(loop(), self.wait)

    async def wait_for_call(
        self,
        method: str,
        where: Callable[[ApiCall], bool] = lambda c: True,
        *,
        count: int = 1,
    ) -> list[ApiCall]:
        def found() -> list[ApiCall] | None:
            hits = [c for c in self.calls_to(method) if c.status == 200 and where(c)]
            return hits if len(hits) >= count else None

        result: list[ApiCall] = await self.wait_until(found)
        return result

    def messages_in(self, channel: str) -> list[dict[str, Any]]:
        return [m for (ch, _), m in sorted(self.messages.items()) if ch == channel]

    # ------------------------------------------------------------------ Socket Mode

    @property
    def open_connections(self) -> int:
        return len(self._sockets)

    async def wait_connected(self, count: int = 1) -> None:
        await self.wait_until(lambda: self.connections >= count and self._sockets)

    async def send(self, type_: str, payload: dict[str, Any]) -> Envelope:
        """Deliver an envelope on the newest connection; returns it (await `ack`)."""
        env = Envelope(envelope_id=str(uuid.uuid4()), type=type_, payload=payload)
        self.envelopes[env.envelope_id] = env
        await self._deliver(env)
        return env

    async def replay(self, env: Envelope) -> Envelope:
        """Deliver the same payload again, as Slack does when it retries (a new envelope)."""
        again = Envelope(
            envelope_id=str(uuid.uuid4()),
            type=env.type,
            payload=env.payload,
            retry_attempt=env.retry_attempt + 1,
        )
        self.envelopes[again.envelope_id] = again
        await self._deliver(again)
        return again

    async def ack(self, env: Envelope) -> dict[str, Any] | None:
        """Wait for the app's acknowledgement; returns its payload (e.g. response_action)."""
        await asyncio.wait_for(env.acked.wait(), self.wait)
        return env.ack_payload

    async def request_reconnect(self, reason: str = "refresh_requested") -> None:
        await self.wait_connected()
        await self._sockets[-1].send_json({"type": "disconnect", "reason": reason})

    async def _deliver(self, env: Envelope) -> None:
        await self.wait_connected()
        env.sent_at = self.now()
        await self._sockets[-1].send_json(env.frame())

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "connection_info": {"app_id": "A111"},
                "debug_info": {"host": "applink-1", "approximate_connection_time": 18060},
            }
        )
        self._sockets.append(ws)
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()
        for env in list(self.envelopes.values()):  # Slack redelivers what was never acked
            if env.sent_at is not None and not env.acked.is_set():
                env.retry_attempt += 1
                env.sent_at = self.now()
                await ws.send_json(env.frame())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_ack(json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def _on_ack(self, data: dict[str, Any]) -> None:
        env = self.envelopes.get(data.get("envelope_id", ""))
        if env is None or env.acked.is_set():
            return
        env.acked_at = self.now()
        env.acked_order = next(self.seen)
        env.ack_payload = data.get("payload")
        env.acked.set()
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ response_url

    def response_url(self) -> str:
        """A response_url for a payload: what the app posts there is recorded as a call to
        the pseudo-method "response_url"."""
        return f"http://127.0.0.1:{self.port}/respond/{next(self._ids)}"

    async def _respond(self, request: web.Request) -> web.Response:
        call = ApiCall("response_url", await request.json(), None, self.now())
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()
        return web.Response(text="ok")

    # ------------------------------------------------------------------ Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        call = ApiCall(method=method, args=args, token=token, at=self.now(), order=next(self.seen))
        headers: dict[str, str] = {}
        limit = self._rate_limits.get(method)
        if limit and limit[0] > 0:
            limit[0] -= 1
            call.status = 429
            call.response = {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(limit[1])
        elif retry_after := self._over_limit(call):
            call.status = 429
            call.response = {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(retry_after)
        elif (failure := self._failures.get(method)) and failure[0] > 0:
            failure[0] -= 1
            call.response = {"ok": False, "error": failure[1]}
        else:
            call.response = self._answer(method, args, token, auth)
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(call.response, status=call.status, headers=headers)

    def _over_limit(self, call: ApiCall) -> int:
        """Seconds to wait when the call is over its published limit (0: it may go)."""
        team = self.teams.get(call.token or "")
        if self.limits is None or team is None:
            return 0
        limit = limit_of(call.method, call.args, team)
        if limit is None:
            return 0
        call.limit = limit.name
        return self.limits.check(limit, call.at)

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None, auth: str
    ) -> dict[str, Any]:
        if method == "oauth.v2.access":  # authenticated by client id and secret
            return self._oauth_access(args, auth)
        if not token:
            return {"ok": False, "error": "not_authed"}
        valid = (
            token == self.app_token if method == "apps.connections.open" else (token in self.teams)
        )
        if not valid:
            return {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            response: dict[str, Any] = handler({**args, "_team": self.teams.get(token or "")})
        except web_api.SlackError as e:
            return {"ok": False, "error": str(e)}
        return {"ok": True, **response}


async def _read_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        args.update(await request.json())
    elif request.can_read_body:
        args.update(dict(await request.post()))
    for key in JSON_ARGS:
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args
