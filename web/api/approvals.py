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
import hashlib
import weakref
from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import web

from countersign_client.digest import canonical_json
from engine import (
    APPROVAL_WORKFLOW,
    COMMENT_FIELD,
    DefinitionError,
    NOf,
    NotFound,
    RunState,
    TemplateError,
    approval_definition,
    outcome_of,
    render_specs,
)
from outbound.http import RefusedDestination
from web.api.approval_schemas import (
    ApprovalList,
    ApprovalListQuery,
    ApprovalQuery,
    ApprovalView,
    CancelApproval,
    CreateApproval,
)
from web.api.registry import Call, Header, Result
from web.api.routes import ApiDeps, api, api_actor
from web.errors import ApiError, field_error
from web.pages.live import HUB, RECHECK

HEARTBEAT = 15.0
KEY_HEADER = Header(
    "Idempotency-Key",
    "Like the body's `idempotency_key` (the body wins when both are given).",
    max_length=200,
)
# Which version of the built-in workflow each request shape was applied as, per engine (a
# version never changes once written, so this only saves the apply round trip).
_versions: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], int]] = weakref.WeakKeyDictionary()


async def _definition_version(deps: ApiDeps, tenant_id: str, source: str, form: int) -> int:
    """The version of the built-in workflow for this request shape, applied if need be. A bad
    decision form is reported on the request's `fields` (the first `form` fields of the
    workflow's are the request's own, shifted by the added comment field)."""
    cache = _versions.setdefault(deps.engine, {})
    key = (tenant_id, hashlib.sha256(source.encode()).hexdigest())
    if key not in cache:
        try:
            applied = await deps.engine.apply_definition(tenant_id, source, APPROVAL_WORKFLOW)
        except DefinitionError as exc:
            details = [
                {"field": _request_field(i.field, form), "message": i.message} for i in exc.issues
            ]
            fields = ", ".join(sorted({d["field"] for d in details}))
            message = f"the request body is not valid: {fields}"
            raise ApiError(422, "invalid_request", message, details) from exc
        cache[key] = applied.version
    return cache[key]


def _request_field(field: str, shift: int) -> str:
    """`steps.0.fields.3.min` of the built-in workflow as the request's `fields.2.min`."""
    parts = field.split(".")
    if parts[:3] == ["steps", "0", "fields"] and len(parts) > 3 and parts[3].isdigit():
        return ".".join(["fields", str(int(parts[3]) - shift), *parts[4:]])
    return field


async def load_approval(deps: ApiDeps, tenant_id: str, approval_id: str) -> RunState:
    run = await deps.engine.get_run(tenant_id, approval_id)
    if run.workflow != APPROVAL_WORKFLOW:
        raise NotFound(f"no approval {approval_id!r}")
    return run


def _approvers(req: CreateApproval) -> str:
    try:
        specs = render_specs(list(req.approvers), {})
    except (ValueError, TemplateError) as exc:
        raise field_error("approvers", str(exc)) from exc
    people = [s for s in specs if s.startswith(("U", "W", "email:"))]
    if isinstance(req.policy, NOf) and len(people) == len(specs) and req.policy.n > len(specs):
        problem = f"the policy needs {req.policy.n} approvals but {len(specs)} approvers are listed"
        raise field_error("policy.n", problem)
    return ", ".join(specs)


@api.op(
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
    if key is not None and len(key) > KEY_HEADER.max_length:
        raise field_error("idempotency_key", "at most 200 characters")
    try:
        details = canonical_json(req.details).decode()
    except ValueError as exc:
        raise field_error("details", str(exc)) from exc
    digest = hashlib.sha256(details.encode()).hexdigest()
    approvers = _approvers(req)
    if req.callback_url is not None:
        try:
            deps.callback_policy.check_host(req.callback_url.host or "")
        except RefusedDestination as exc:
            raise field_error("callback_url", str(exc), f"callback_url refused: {exc}") from exc
    source = approval_definition(
        policy=req.policy if isinstance(req.policy, str) else {"n": req.policy.n},
        timeout=req.timeout,
        default_decision=req.default_decision,
        remind_every=req.remind_every,
        fields=[f.model_dump(mode="json", exclude_none=True) for f in req.fields],
    )
    own_comment = any(f.id == COMMENT_FIELD for f in req.fields)
    version = await _definition_version(deps, call.tenant_id, source, 0 if own_comment else 1)
    inputs = {
        "title": req.title,
        "summary": req.summary,
        "details": details,
        "digest": digest,
        "approvers": approvers,
        "editable": ", ".join(req.editable),
    }
    run = await deps.engine.start_run(
        call.tenant_id,
        APPROVAL_WORKFLOW,
        inputs,
        api_actor(call),
        callback_url=str(req.callback_url) if req.callback_url else None,
        # Scoped to the API key: two agents' tool-call ids never meet.
        idempotency_key=f"approval:{call.key.id}:{key}" if key else None,
        version=version,
    )
    if run.workflow != APPROVAL_WORKFLOW or run.inputs.get("digest") != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"idempotency key {key!r} was used for a request with other details; "
            "use a new key for new details",
        )
    return 201, ApprovalView.of(run)


@api.op(
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
    q: ApprovalListQuery = call.query
    # One run status each, filtered further below; expired and cancelled span several.
    run_status = {"pending": "running", "approved": "completed", "rejected": "rejected"}
    page = await deps.engine.list_runs(
        call.tenant_id,
        status=run_status.get(q.status or ""),
        workflow=APPROVAL_WORKFLOW,
        limit=q.limit,
        cursor=q.cursor,
    )
    views = [ApprovalView.of(r) for r in page.runs]
    if q.status is not None:
        views = [v for v in views if v.status == q.status]
    return 200, ApprovalList(approvals=views, next_cursor=page.next_cursor)


@api.op(
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
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(q.wait.seconds, deps.wait_max)
    last: RunState | None = None
    async for run in _changes(deps, call, approval_id, lambda: deadline - loop.time()):
        last = run
        if outcome_of(run).status != "pending":
            break
    assert last is not None
    return 200, ApprovalView.of(last)


@api.op(
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
    stream = _changes(deps, call, approval_id, lambda: min(HEARTBEAT, ends - loop.time()))
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


async def _changes(
    deps: ApiDeps, call: Call, approval_id: str, remaining: Any
) -> AsyncGenerator[RunState, None]:
    """The approval now, then again after every change notice (or, with none, every time
    `remaining()` seconds pass); ends when `remaining()` is not positive or the server stops.
    The queue is opened before the first load, so no change falls between the two."""
    hub = call.request.app[HUB]
    key = (call.tenant_id, approval_id)
    queue = hub.open(key)
    try:
        run = await load_approval(deps, call.tenant_id, approval_id)
        yield run
        while not hub.closed:
            left = remaining()
            if left <= 0:
                return
            try:
                seq = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                yield run  # nothing changed: a heartbeat for streams
                continue
            if seq is None:
                return
            if seq != RECHECK and seq <= run.seq:
                continue
            run = await load_approval(deps, call.tenant_id, approval_id)
            yield run
    finally:
        hub.close(key, queue)


@api.op(
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
    approval_id = call.path("approval_id")
    await load_approval(deps, call.tenant_id, approval_id)
    run = await deps.engine.cancel(
        call.tenant_id,
        approval_id,
        api_actor(call),
        req.reason or "withdrawn by the requester",
        channel="api",
        admin=True,  # an API key is the tenant's operator
    )
    return 200, ApprovalView.of(run)
