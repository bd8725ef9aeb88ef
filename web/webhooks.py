"""Completion webhooks: when a run with a `callback_url` finishes, POST its outcome, signed.

Signature (documented in the OpenAPI description and web/README.md):
    Countersign-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
Receivers recompute the HMAC over the raw body, compare in constant time and refuse timestamps
older than a few minutes (replays). `Idempotency-Key` carries the outbox command key: the same
delivery retried has the same key.

Delivery goes through the outbox: a failed POST returns `Unavailable`, so the dispatcher tries
again later with a growing delay, across restarts; three days after the run finished it gives up
(logged as an error) rather than retrying forever.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import aiohttp
from yarl import URL

from engine import (
    APPROVAL_WORKFLOW,
    Clock,
    Command,
    Failed,
    NotFound,
    Outcome,
    RunState,
    Succeeded,
    Unavailable,
)
from outbound.http import GuardedResolver, HostPolicy, RefusedDestination
from web.api.approval_schemas import ApprovalView, ApprovalWebhook
from web.api.schemas import WebhookPayload
from web.boundary import same_secret

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
    return same_secret(given, expected)


def _payload(run: RunState) -> tuple[str, bytes]:
    """The event name and body for a finished run: an approval request reports as one."""
    if run.workflow == APPROVAL_WORKFLOW:
        approval = ApprovalWebhook(tenant_id=run.tenant_id, approval=ApprovalView.of(run))
        return approval.event, approval.model_dump_json().encode()
    return "run.finished", WebhookPayload.of(run).model_dump_json().encode()


class WebhookSender:
    """Performs the webhook part of a final `run_changed` command."""

    def __init__(
        self,
        load_run: Callable[[str, str], Awaitable[RunState]],
        secret: str,
        clock: Clock,
        *,
        timeout: float = 10.0,
        retry_after: float = 5.0,
        give_up_after: timedelta = timedelta(days=3),
        allowed_hosts: Sequence[str] = (),
    ) -> None:
        self._load_run = load_run
        self._secret = secret
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry_after = retry_after  # the dispatcher doubles it for every failed attempt
        self._give_up_after = give_up_after
        # The same allowlist as http steps: a callback URL must not reach our own network.
        self.policy = HostPolicy(allowed_hosts)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wants(self, command: Command) -> bool:
        return command.type == "run_changed" and command.final

    async def perform(self, command: Command, run: RunState | None = None) -> Outcome:
        """Send the webhook of `command`; `run`: the run as the caller just read it (one read
        fewer), else it is read here."""
        if not self.wants(command):
            return Succeeded()
        if run is None:
            try:
                run = await self._load_run(command.tenant_id, command.run_id)
            except NotFound:
                return Succeeded({"webhook": "run gone"})
        if not run.callback_url:
            return Succeeded()
        event, body = _payload(run)
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            EVENT_HEADER: event,
            "Idempotency-Key": command.key,
            "User-Agent": "Countersign-Webhook/1",
        }
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy))
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False
            )
        try:
            self.policy.check_host(URL(run.callback_url).host or "")
            async with self._session.post(
                run.callback_url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
        except RefusedDestination as exc:
            log.error("webhook to %s refused: %s", run.callback_url, exc)
            return Failed(f"webhook refused: {exc}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._retry(run, f"webhook to {run.callback_url} failed: {exc!r}")
        if 200 <= status < 300:
            return Succeeded({"webhook_status": status})
        return self._retry(run, f"webhook to {run.callback_url} answered {status}")

    def _retry(self, run: RunState, error: str) -> Outcome:
        finished = run.finished_at or run.updated_at
        if self._clock.now() - finished > self._give_up_after:
            log.error("%s; giving up, the run finished at %s", error, finished.isoformat())
            return Failed(f"{error}; gave up after {self._give_up_after}")
        log.warning("%s; will retry", error)
        return Unavailable(error=error, retry_after=self._retry_after)
