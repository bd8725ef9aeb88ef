"""The approvals API: programs (e.g. AI agents) ask people to approve something and wait for the
answer. Each request is a run of the built-in workflow `countersign-approval`
(`engine.approvals`), so every channel, reminder, escalation and the audit trail apply; the
approval's id is the run's id. Waiting (long-poll, server-sent events) follows the same change
notices as the live run pages (`web.pages.live.LiveHub`), and the state is in the database, so
a client that reconnects after either side restarted gets the same answer.

There is deliberately no endpoint to decide here: people decide through Slack, email, the web
page or, on their behalf, `POST /runs/{id}/decisions` — which refuses the key that asked."""

from __future__ import annotations

import asyncio

from aiohttp import web

from web.api import approval_actions as actions
from web.api.approval_actions import KEY_MAX, Asker, approval_changes, load_approval
from web.api.approval_schemas import (
    ApprovalList,
    ApprovalListQuery,
    ApprovalQuery,
    ApprovalView,
    CancelApproval,
    CreateApproval,
)
from web.api.registry import Call, Header, Operation, Result, operation
from web.api.routes import ApiDeps, api_actor
from web.pages.live import HUB

HEARTBEAT = 15.0
KEY_HEADER = Header(
    "Idempotency-Key",
    "Like the body's `idempotency_key` (the body wins when both are given).",
    max_length=KEY_MAX,
)


@operation(
    "POST",
    "/approvals",
    summary="Ask for an approval (e.g. before an AI agent's tool call); answers at once with "
    "the request, `pending`. The same idempotency key returns the same request",
    tag="approvals",
    body=CreateApproval,
    headers=[KEY_HEADER],
    responses={201: ApprovalView},
    errors=(400, 401, 409, 422),
)
async def create_approval(deps: ApiDeps, call: Call) -> Result:
    req: CreateApproval = call.body
    key = req.idempotency_key or call.request.headers.get("Idempotency-Key") or None
    return 201, ApprovalView.of(await actions.request_approval(deps, asker(call), req, key))


def asker(call: Call) -> Asker:
    """The API key asks: its id scopes idempotency keys."""
    return Asker(call.tenant_id, api_actor(call), call.key.id, call.key.name)


@operation(
    "GET",
    "/approvals",
    summary="List approval requests, newest first, filtered by status (e.g. `pending`); a "
    "filtered page may hold fewer than `limit`: follow `next_cursor` until it is null",
    tag="approvals",
    query=ApprovalListQuery,
    responses={200: ApprovalList},
    errors=(400, 401, 422),
)
async def list_approvals(deps: ApiDeps, call: Call) -> Result:
    return 200, await actions.list_approvals(deps, call.tenant_id, call.query)


@operation(
    "GET",
    "/approvals/{approval_id}",
    summary="Get an approval request; with `?wait=30s` answer as soon as it is decided "
    "(long-poll, at most 60s) or, when the wait is over, as it is",
    tag="approvals",
    query=ApprovalQuery,
    responses={200: ApprovalView},
    errors=(401, 404, 422),
)
async def get_approval(deps: ApiDeps, call: Call) -> Result:
    q: ApprovalQuery = call.query
    approval_id = call.path("approval_id")
    if q.wait is None:
        return 200, ApprovalView.of(await load_approval(deps, call.tenant_id, approval_id))
    hub = call.request.app[HUB]
    return 200, ApprovalView.of(
        await actions.wait_decided(deps, hub, call.tenant_id, approval_id, q.wait.seconds)
    )


@operation(
    "GET",
    "/approvals/{approval_id}/events",
    summary="Server-sent events: an `approval` event with the request now and at every "
    "change of its status; the stream ends once it is decided, expired or cancelled (or "
    "after a minute: reconnect to go on)",
    tag="approvals",
    responses={200: ApprovalView},
    errors=(401, 404),
    stream="text/event-stream",
)
async def approval_events(deps: ApiDeps, call: Call) -> web.StreamResponse:
    approval_id = call.path("approval_id")
    loop = asyncio.get_running_loop()
    ends = loop.time() + deps.wait_max  # then the client reconnects and gets the state anew
    stream = approval_changes(
        deps,
        call.request.app[HUB],
        call.tenant_id,
        approval_id,
        lambda: min(HEARTBEAT, ends - loop.time()),
    )
    first = await anext(stream)  # 404 before the stream starts
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(call.request)
    sent, retry = None, "retry: 2000\n"  # how soon a client reconnects, sent once
    run = first
    try:
        while True:
            view = ApprovalView.of(run)
            if view.status != sent:
                sent = view.status
                event = f"{retry}event: approval\ndata: {view.model_dump_json()}\n\n"
                await response.write(event.encode())
                retry = ""
            else:
                await response.write(b": ping\n\n")  # keeps proxies from closing an idle stream
            if view.status != "pending":
                break
            following = await anext(stream, None)
            if following is None:
                break
            run = following
    except ConnectionResetError:
        pass  # the client went away
    finally:
        await stream.aclose()
    return response


@operation(
    "POST",
    "/approvals/{approval_id}/cancel",
    summary="Withdraw a pending approval request (its cards say so); answers it `cancelled`",
    tag="approvals",
    body=CancelApproval,
    responses={200: ApprovalView},
    errors=(400, 401, 404, 409, 422),
)
async def cancel_approval(deps: ApiDeps, call: Call) -> Result:
    req: CancelApproval = call.body
    run = await actions.cancel_approval(deps, asker(call), call.path("approval_id"), req.reason)
    return 200, ApprovalView.of(run)


# This module's routes, in the order the OpenAPI document lists them.
OPERATIONS: tuple[Operation, ...] = (
    create_approval,
    list_approvals,
    get_approval,
    approval_events,
    cancel_approval,
)
