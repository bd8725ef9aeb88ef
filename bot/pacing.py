"""Keeping to Slack's rate limits: calls are paced per method and, for posting, per channel.

Slack limits each Web API method per app per workspace by tier (Tier 1 1+ per minute, Tier 2
20+, Tier 3 50+, Tier 4 100+) and chat.postMessage to about one message per second per channel
(https://api.slack.com/apis/rate-limits). Sending faster only earns HTTP 429s, so each workspace's
client waits its turn: one `Pacer` per workspace holds a pace per limit, spacing calls by the
published rate (no burst is assumed: Slack does not publish its size). A 429 still happens (other
replicas share the workspace's limits); `PacedRetryHandler` then holds that limit for the
`Retry-After` Slack gave, and the refused call goes first when it ends, so it is not refused again
and later calls do not jump ahead of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

log = logging.getLogger("countersign.slack")

PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
POSTS_PER_SECOND = 1.0
BURST_SECONDS = 6.0  # assumed burst of a tier: 6 s of its rate (Slack does not publish it)
POST_BURST = 3  # assumed burst of posts to one channel ("short bursts >1 allowed")
MARGIN = 1.03  # calls are spaced 3% wider than the published rate, to absorb such delays too
KEPT_TICKETS = 10_000  # turns kept for put-off work, before those long past are forgotten
KEPT_FOR = 600.0  # seconds a kept turn is remembered after it came
POST = "chat.postMessage"
# The tier of each method the app calls, from the method's page on api.slack.com. A method not
# listed (e.g. functions.completeSuccess) is not paced; a 429 on it is still retried.
TIER = {
    "apps.connections.open": 1,
    "auth.test": 4,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "conversations.history": 3,
    "conversations.info": 3,
    "conversations.list": 2,
    "conversations.members": 4,
    "conversations.open": 3,
    "team.info": 3,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.publish": 4,
    "views.push": 4,
    "views.update": 4,
}


def limit_key(method: str, args: dict[str, Any] | None) -> tuple[str, float] | None:
    """The limit a call falls under and its rate per second (None: not paced)."""
    if method == POST:
        return f"{POST} {(args or {}).get('channel', '')}", POSTS_PER_SECOND
    tier = TIER.get(method)
    return (method, PER_MINUTE[tier] / 60) if tier else None


@dataclass
class _Pace:
    interval: float  # seconds between two calls at the published rate
    burst: float  # calls that may go at once after a quiet spell
    due: float = float("-inf")  # when the calls handed out so far are paid for (GCRA's TAT)
    held_until: float = float("-inf")  # Slack said to wait until then


class Paced(Exception):
    """The call's turn is `wait` seconds away, longer than its work may wait (`waiting_at_most`).
    The turn is kept for the work's ticket: when the work is tried again, the call takes it."""

    def __init__(self, limit: str, wait: float, times: int) -> None:
        super().__init__(f"Slack's rate limit on {limit}: the next turn is in {wait:.1f} s")
        self.limit = limit
        self.wait = wait
        self.times = times  # how often this work was put off before (this time included)


@dataclass(frozen=True)
class _Ticket:
    name: str
    max_wait: float
    early: float  # how early put-off work may come back for its kept turn


# The work in progress that may wait only so long for a turn (see `waiting_at_most`).
_TICKET: contextvars.ContextVar[_Ticket | None] = contextvars.ContextVar(
    "countersign_slack_ticket", default=None
)


@contextlib.contextmanager
def waiting_at_most(ticket: str, seconds: float, early: float = 0.0) -> Iterator[None]:
    """Calls made inside wait at most `seconds` for their turn; a later turn is kept for
    `ticket` and `Paced` is raised, so the caller can come back then (the engine's commands: the
    dispatcher performs a batch at once under a lease, so one command must not hold it for
    minutes; it is tried again when its turn comes). Work that comes back for a kept turn may
    come `early` and wait that much longer."""
    token = _TICKET.set(_Ticket(ticket, seconds, early))
    try:
        yield
    finally:
        _TICKET.reset(token)


class Pacer:
    """The paces of one workspace, scaled by `speed` (1: Slack's rates; None: calls are not
    spaced, only held after a 429 — for a Slack without limits). `acquire` waits for the call's
    turn under its limit; turns go in the order calls ask. Like Slack, a limit lets a short burst
    through after a quiet spell (`BURST_SECONDS` of its rate; 3 posts to a channel) and then one
    call per interval (a token bucket, kept as GCRA's one timestamp)."""

    def __init__(self, speed: float | None = 1.0) -> None:
        self._paces: dict[str, _Pace] = {}
        self._speed = speed
        self._kept: dict[tuple[str, str], list[float]] = {}  # (ticket, limit) -> turns kept
        self._times: dict[str, int] = {}  # ticket -> times its work was put off

    def _pace(self, key: str, rate: float) -> _Pace:
        pace = self._paces.get(key)
        if pace is None:
            burst = POST_BURST if key.startswith(POST) else max(1.0, rate * BURST_SECONDS)
            interval = MARGIN / (rate * self._speed) if self._speed else 0.0
            # One call of the burst is left unused: a call that leaves on its turn can reach
            # Slack later than the next one (a slow connection), and Slack counts arrivals.
            pace = self._paces[key] = _Pace(interval, max(1.0, burst - 1))
        return pace

    def _kept_turn(self, ticket: _Ticket | None, key: str, pace: _Pace, now: float) -> float | None:
        if ticket is None or (turns := self._kept.get((ticket.name, key))) is None:
            return None
        turn = turns.pop(0)
        if not turns:
            del self._kept[(ticket.name, key)]
        if turn < pace.held_until:
            return None  # a 429 since: take a new turn after the hold
        # Back late, it goes at once: Slack's bucket kept the call its turn left unused.
        return max(turn, now)

    def _put_off(self, ticket: _Ticket, key: str, turn: float, now: float) -> Paced:
        self._kept.setdefault((ticket.name, key), []).append(turn)
        times = self._times.get(ticket.name, 0) + 1
        self._times[ticket.name] = times
        if len(self._kept) > KEPT_TICKETS:  # work that never came back: forget the oldest
            for stale in [k for k, turns in self._kept.items() if turns[-1] < now - KEPT_FOR]:
                del self._kept[stale]
                self._times.pop(stale[0], None)
        return Paced(key, turn - now, times)

    async def acquire(self, key: str, rate: float, *, retry: bool = False) -> None:
        pace = self._pace(key, rate)
        loop = asyncio.get_running_loop()
        ticket = None if retry else _TICKET.get()
        while True:
            now = loop.time()
            kept = self._kept_turn(ticket, key, pace, now)
            if kept is not None:  # the turn kept when this work was put off
                turn = kept
                if ticket is not None and turn - now > ticket.max_wait + ticket.early:
                    raise self._put_off(ticket, key, turn, now)
            else:
                if retry:  # a refused call goes first once the hold ends
                    turn = max(now, pace.held_until)
                else:
                    turn = max(now, pace.due - (pace.burst - 1) * pace.interval, pace.held_until)
                pace.due = max(pace.due, turn) + pace.interval
                if ticket is not None and turn - now > ticket.max_wait:
                    raise self._put_off(ticket, key, turn, now)
            if turn > now:
                await asyncio.sleep(turn - now)
            if retry or loop.time() >= pace.held_until:
                return
            # Slack refused a call while this one waited: take a turn after the hold.

    def hold(self, key: str, rate: float, seconds: float) -> None:
        """Slack said to wait `seconds` on this limit: no call of it goes before then."""
        pace = self._pace(key, rate)
        until = asyncio.get_running_loop().time() + seconds
        pace.held_until = max(pace.held_until, until)
        # Slack's bucket is empty then: turns after the hold go one interval apart.
        pace.due = max(pace.due, until + (pace.burst - 1) * pace.interval)


# The limit of the call in progress, for the retry handler (slack_sdk gives it only the URL).
_CALL: contextvars.ContextVar[tuple[str, float] | None] = contextvars.ContextVar(
    "countersign_slack_call", default=None
)


class PacedWebClient(AsyncWebClient):
    """An AsyncWebClient whose every call waits for its turn under the workspace's limits."""

    def __init__(self, *args: Any, pacer: Pacer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        args = kwargs.get("json") or kwargs.get("data") or kwargs.get("params")
        limit = limit_key(api_method, args if isinstance(args, dict) else None)
        if limit is not None:
            await self.pacer.acquire(*limit)
        token = _CALL.set(limit)
        try:
            return await super().api_call(api_method, **kwargs)
        finally:
            _CALL.reset(token)


class PacedRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 retry, told to the pacer: the limit is held for Retry-After and the
    refused call is the first to go after it."""

    def __init__(self, pacer: Pacer, max_retry_count: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pacer = pacer

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("a retry without a response")
        limit = _CALL.get() or limit_key(urlparse(request.url).path.rsplit("/", 1)[-1], None)
        if limit is None:  # not a method we pace: slack_sdk's own wait
            await super().prepare_for_next_attempt_async(
                state=state, request=request, response=response, error=error
            )
            return
        state.next_attempt_requested = True
        seconds = _retry_after(response)
        log.info("Slack: %s rate-limited, retrying in %.0f s", limit[0], seconds)
        self.pacer.hold(*limit, seconds)
        await self.pacer.acquire(*limit, retry=True)
        state.increment_current_attempt()


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                break
    return 1.0


def retry_handlers(pacer: Pacer) -> list[AsyncRetryHandler]:
    """The rate-limit retry that tells `pacer` (put first: slack_sdk asks handlers in order)."""
    return [PacedRetryHandler(pacer)]
