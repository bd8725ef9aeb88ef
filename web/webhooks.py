"""Completion webhooks: when a run with a `callback_url` finishes, POST its outcome, signed.

Signature (documented in the OpenAPI description and web/README.md):
    Countersign-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
Receivers recompute the HMAC over the raw body, compare in constant time and refuse timestamps
older than a few minutes (replays). `Idempotency-Key` carries the outbox command key: the same
delivery retried has the same key.

Delivery goes through the outbox: a failed POST returns `Unavailable` with a growing delay, so the
dispatcher tries again later, across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp

from engine.commands import Command
from engine.errors import NotFound
from engine.ports import Clock, Outcome, Succeeded, Unavailable
from engine.state import RunState
from web.api.schemas import WebhookPayload

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Countersign-Signature"
EVENT_HEADER = "Countersign-Event"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the `Countersign-Signature` header for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: datetime, tolerance: float = 300) -> bool:
    """What a receiver does: True if `header` signs `body` with `secret` within `tolerance`
    seconds of `now`."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class WebhookSender:
    """Performs the webhook part of a final `run_changed` command."""

    def __init__(
        self,
        load_run: Callable[[str, str], Awaitable[RunState]],
        secret: str,
        clock: Clock,
        *,
        timeout: float = 10.0,
        initial_delay: float = 5.0,
        max_delay: float = 3600.0,
    ) -> None:
        self._load_run = load_run
        self._secret = secret
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._failures: dict[str, int] = {}  # command key -> failed attempts, for the backoff
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wants(self, command: Command) -> bool:
        return command.type == "run_changed" and command.final

    async def perform(self, command: Command) -> Outcome:
        if not self.wants(command):
            return Succeeded()
        try:
            run = await self._load_run(command.tenant_id, command.run_id)
        except NotFound:
            return Succeeded({"webhook": "run gone"})
        if not run.callback_url:
            return Succeeded()
        body = WebhookPayload.of(run).model_dump_json().encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            EVENT_HEADER: "run.finished",
            "Idempotency-Key": command.key,
            "User-Agent": "Countersign-Webhook/1",
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(run.callback_url, data=body, headers=headers) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._retry(command.key, f"webhook to {run.callback_url} failed: {exc!r}")
        if 200 <= status < 300:
            self._failures.pop(command.key, None)
            return Succeeded({"webhook_status": status})
        return self._retry(command.key, f"webhook to {run.callback_url} answered {status}")

    def _retry(self, key: str, error: str) -> Unavailable:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(self._initial_delay * 2 ** (failures - 1), self._max_delay)
        log.warning("%s; retrying in %.1fs", error, delay)
        return Unavailable(error=error, retry_after=delay)
