"""A small client of Countersign's approvals API (aiohttp only: no Slack, no database).

    async with ApprovalClient("http://localhost:8080", api_key) as client:
        result = await client.approve(
            "Refund order 1234",
            details={"tool": "refund", "arguments": {"order": 1234}},
            approvers=["U0BOB"],
            timeout="30m",
            idempotency_key=tool_call_id,
        )
        if result.approved: ...

Calls are retried with backoff on connection errors, timeouts and 5xx answers. A request is
always sent with an idempotency key (the caller's, or one made once per call), so a retried
request never asks twice; waiting is a long-poll the client repeats, so it survives a restart of
either side: the state is the server's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp

from countersign_client.models import Approval, ApprovalError, ConflictError

T = TypeVar("T")
Policy = Literal["any", "all", "majority"] | int
Timeout = str | float | timedelta | None
RETRY_STATUSES = frozenset({500, 502, 503, 504})


def _duration(value: Timeout) -> str | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, int | float):
        return f"{max(1, round(value))}s"
    return value


class ApprovalClient:
    """Ask people for approval over the REST API with an API key (`countersign apikeys create`).

    `retries` is how many times one call is tried again after a connection error, a timeout or a
    5xx, waiting `backoff` seconds, doubled each time up to `max_backoff`. `poll` is how long one
    long-poll waits on the server (at most 60 s)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retries: int = 8,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        poll: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll = min(max(poll, 1.0), 60.0)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> ApprovalClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------ the calls

    async def request_approval(
        self,
        title: str,
        *,
        approvers: Sequence[str],
        details: dict[str, Any] | None = None,
        summary: str = "",
        policy: Policy = "any",
        timeout: Timeout = None,  # noqa: ASYNC109  (the request's own timeout, on the server)
        default_decision: Literal["approve", "reject"] = "reject",
        remind_every: Timeout = None,
        fields: Sequence[dict[str, Any]] = (),
        editable: Sequence[str] = (),
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        grant: dict[str, Any] | None = None,
    ) -> Approval:
        """Ask for approval and return at once (status `pending`, or the earlier answer when the
        idempotency key was used before with the same details). Raises `ConflictError` when the
        key was used for other details, `ApprovalError` (with `details` naming the fields) for
        a request the server refuses.

        `approvers`: Slack user ids, user groups, channels or email addresses; `policy`: any,
        all, majority or a number of approvals; `timeout` (e.g. "30m", seconds or a timedelta)
        with `default_decision` applied when it passes (the request then reports `expired`);
        `fields`: the approver's decision form (workflow form fields); `editable`: argument
        names an approver may change (the answer then has `arguments` and `approved_digest`);
        `grant`: opt in to standing grants, e.g. `{"max_hours": 8}`; `callback_url`: gets a
        signed webhook."""
        body: dict[str, Any] = {
            "title": title,
            "summary": summary,
            "details": details or {},
            "approvers": list(approvers),
            "policy": {"n": policy} if isinstance(policy, int) else policy,
            "default_decision": default_decision,
            "fields": list(fields),
            "editable": list(editable),
            "idempotency_key": idempotency_key or f"client-{uuid.uuid4()}",
        }
        if timeout is not None:
            body["timeout"] = _duration(timeout)
        if remind_every is not None:
            body["remind_every"] = _duration(remind_every)
        if callback_url is not None:
            body["callback_url"] = callback_url
        if grant is not None:
            body["grant"] = grant
        data = await self._call("POST", "/api/v1/approvals", json=body)
        return Approval.from_json(data)

    async def get(self, approval_id: str) -> Approval:
        return Approval.from_json(await self._call("GET", f"/api/v1/approvals/{approval_id}"))

    async def wait(self, approval_id: str, *, max_wait: float | None = None) -> Approval:
        """Wait until the request is decided, expired or cancelled, and return it. With
        `max_wait` (seconds) give up waiting then and return it as it is (maybe `pending`);
        the request's own timeout (`expired`) is what normally ends a wait."""
        loop = asyncio.get_running_loop()
        deadline = None if max_wait is None else loop.time() + max_wait
        while True:
            poll = self.poll
            if deadline is not None:
                poll = min(poll, max(0.0, deadline - loop.time()))
            path = f"/api/v1/approvals/{approval_id}"
            if poll >= 1:
                path += f"?wait={int(poll)}s"
            found = Approval.from_json(await self._call("GET", path, read_timeout=poll + 15))
            if found.done or (deadline is not None and loop.time() >= deadline):
                return found

    async def approve(
        self,
        title: str,
        *,
        approvers: Sequence[str],
        details: dict[str, Any] | None = None,
        max_wait: float | None = None,
        **options: Any,
    ) -> Approval:
        """Ask for approval and wait for the answer: `approved`, `rejected`, `cancelled`, or
        `expired` when the request's `timeout` passed (its `decision` is then the
        `default_decision` that applied; `approved` is never set by a timeout). Other options
        as for `request_approval`; pass `idempotency_key` (e.g. the tool-call id) so that a
        retry after a crash finds the same request."""
        options.setdefault("idempotency_key", f"client-{uuid.uuid4()}")
        request = await self.request_approval(
            title, approvers=approvers, details=details, **options
        )
        if request.done:
            return request
        return await self.wait(request.id, max_wait=max_wait)

    async def list(
        self, status: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Approval], str | None]:
        """A page of this tenant's approval requests, newest first, and the next page's cursor."""
        params: dict[str, str] = {"limit": str(limit)}
        if status is not None:
            params["status"] = status
        if cursor is not None:
            params["cursor"] = cursor
        data = await self._call("GET", "/api/v1/approvals", params=params)
        return [Approval.from_json(a) for a in data["approvals"]], data.get("next_cursor")

    async def cancel(self, approval_id: str, reason: str = "") -> Approval:
        path = f"/api/v1/approvals/{approval_id}/cancel"
        return Approval.from_json(await self._call("POST", path, json={"reason": reason}))

    # ------------------------------------------------------------ transport

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        read_timeout: float = 30.0,
    ) -> Any:
        async def once() -> Any:
            timeout = aiohttp.ClientTimeout(total=read_timeout + 10, connect=10)
            async with self._http().request(
                method,
                self.base_url + path,
                json=json,
                params=params,
                headers=self._headers,
                timeout=timeout,
            ) as resp:
                if resp.status in RETRY_STATUSES:
                    raise _Retry(f"{method} {path} answered {resp.status}")
                try:
                    data = await resp.json(content_type=None)
                except ValueError as exc:  # e.g. a proxy's HTML error page
                    message = f"{method} {path} answered {resp.status} without JSON"
                    raise ApprovalError(message, status=resp.status) from exc
                if resp.status >= 400:
                    error = (data or {}).get("error") or {}
                    kind = ConflictError if resp.status == 409 else ApprovalError
                    raise kind(
                        error.get("message") or f"{method} {path} answered {resp.status}",
                        status=resp.status,
                        code=error.get("code", ""),
                        details=error.get("details"),
                    )
                return data

        return await self._retrying(once)

    async def _retrying(self, once: Callable[[], Awaitable[T]]) -> T:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return await once()
            except (_Retry, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                last: Exception = exc
            except TimeoutError as exc:
                last = exc
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise ApprovalError(f"the server could not be reached: {last!r}") from last


class _Retry(Exception):
    """A 5xx answer: worth another try."""


class SyncApprovalClient:
    """The same calls, blocking, for code without an event loop (not from inside one). Close it
    (or use `with`) to free its connection pool and loop."""

    def __init__(self, base_url: str, api_key: str, **options: Any) -> None:
        self._runner = asyncio.Runner()
        self._base_url = base_url
        self._api_key = api_key
        self._options = options
        self._client: ApprovalClient | None = None

    def __enter__(self) -> SyncApprovalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, make: Callable[[ApprovalClient], Awaitable[T]]) -> T:
        async def call() -> T:
            if self._client is None:  # made inside the runner's loop, which its session needs
                self._client = ApprovalClient(self._base_url, self._api_key, **self._options)
            return await make(self._client)

        return self._runner.run(call())

    def request_approval(self, title: str, **kwargs: Any) -> Approval:
        return self._run(lambda c: c.request_approval(title, **kwargs))

    def approve(self, title: str, **kwargs: Any) -> Approval:
        return self._run(lambda c: c.approve(title, **kwargs))

    def get(self, approval_id: str) -> Approval:
        return self._run(lambda c: c.get(approval_id))

    def wait(self, approval_id: str, *, max_wait: float | None = None) -> Approval:
        return self._run(lambda c: c.wait(approval_id, max_wait=max_wait))

    def list(self, status: str | None = None, **kwargs: Any) -> tuple[list[Approval], str | None]:
        return self._run(lambda c: c.list(status, **kwargs))

    def cancel(self, approval_id: str, reason: str = "") -> Approval:
        return self._run(lambda c: c.cancel(approval_id, reason))

    def close(self) -> None:
        if self._client is not None:
            self._runner.run(self._client.close())
            self._client = None
        self._runner.close()
