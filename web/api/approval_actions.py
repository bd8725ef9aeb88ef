"""What the approvals API does, for both of its faces: the REST routes (`web.api.approvals`)
and the MCP tools (`web.mcp_server`). Each function takes who asks (`Asker`) rather than an
HTTP request, so both faces act through the same engine calls with the same checks."""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

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
from web.api.approval_schemas import ApprovalList, ApprovalListQuery, ApprovalView, CreateApproval
from web.api.routes import ApiDeps
from web.errors import ApiError, field_error
from web.pages.live import RECHECK, LiveHub

KEY_MAX = 200  # characters of an idempotency key


@dataclass(frozen=True)
class Asker:
    """Who asks: the tenant, the actor recorded as requester (who then may not decide), and
    the scope of idempotency keys (two agents' tool-call ids never meet)."""

    tenant_id: str
    actor: str
    key_scope: str
    agent: str = ""  # the asking API key's name, shown to approvers


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


async def request_approval(
    deps: ApiDeps, asker: Asker, req: CreateApproval, key: str | None
) -> RunState:
    """Start (or, for a known idempotency `key`, find) the approval request's run."""
    if key is not None and len(key) > KEY_MAX:
        raise field_error("idempotency_key", f"at most {KEY_MAX} characters")
    try:
        details = canonical_json(req.details).decode()
    except ValueError as exc:
        raise field_error("details", str(exc)) from exc
    digest = hashlib.sha256(details.encode()).hexdigest()
    approvers = _approvers(req)
    offer = req.grant if req.grant is not None and req.grant.allow else None
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
        editable=bool(req.editable),
        grant_hours=offer.max_hours if offer is not None else None,
    )
    own_comment = any(f.id == COMMENT_FIELD for f in req.fields)
    version = await _definition_version(deps, asker.tenant_id, source, 0 if own_comment else 1)
    inputs = {
        "title": req.title,
        "summary": req.summary,
        "details": details,
        "digest": digest,
        "approvers": approvers,
        "editable": ", ".join(req.editable),
        "agent": asker.agent,
        "grant": offer.model_dump_json(exclude_none=True) if offer is not None else "",
    }
    run = await deps.engine.start_run(
        asker.tenant_id,
        APPROVAL_WORKFLOW,
        inputs,
        asker.actor,
        callback_url=str(req.callback_url) if req.callback_url else None,
        idempotency_key=f"approval:{asker.key_scope}:{key}" if key else None,
        version=version,
    )
    if run.workflow != APPROVAL_WORKFLOW or run.inputs.get("digest") != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"idempotency key {key!r} was used for a request with other details; "
            "use a new key for new details",
        )
    if outcome_of(run).status == "pending":
        run = await _by_grant(deps, run)
    return run


async def _by_grant(deps: ApiDeps, run: RunState) -> RunState:
    """Approved at once when a standing grant covers the request; the run records which."""
    grant_run, grant = await deps.engine.apply_grant(run)
    return grant_run if grant is not None else run


async def list_approvals(deps: ApiDeps, tenant_id: str, q: ApprovalListQuery) -> ApprovalList:
    # One run status each, filtered further below; expired and cancelled span several.
    run_status = {"pending": "running", "approved": "completed", "rejected": "rejected"}
    page = await deps.engine.list_runs(
        tenant_id,
        status=run_status.get(q.status or ""),
        workflow=APPROVAL_WORKFLOW,
        limit=q.limit,
        cursor=q.cursor,
    )
    views = [ApprovalView.of(r) for r in page.runs]
    if q.status is not None:
        views = [v for v in views if v.status == q.status]
    return ApprovalList(approvals=views, next_cursor=page.next_cursor)


async def wait_decided(
    deps: ApiDeps,
    hub: LiveHub,
    tenant_id: str,
    approval_id: str,
    seconds: float,
    poll: float | None = None,
) -> RunState:
    """The approval as soon as it is no longer pending, or as it is after `seconds` (at most
    `deps.wait_max`). `poll`: also reload this often, for a process whose hub hears no other
    process's changes (the stdio MCP server next to `countersign serve`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(seconds, deps.wait_max)

    def remaining() -> float:
        left = deadline - loop.time()
        return left if poll is None or left <= 0 else min(left, poll)

    last: RunState | None = None
    reload = poll is not None
    changes = approval_changes(deps, hub, tenant_id, approval_id, remaining, reload=reload)
    try:
        async for run in changes:
            last = run
            if outcome_of(run).status != "pending" or deadline <= loop.time():
                break
    finally:
        await changes.aclose()
    assert last is not None
    return last


async def approval_changes(
    deps: ApiDeps,
    hub: LiveHub,
    tenant_id: str,
    approval_id: str,
    remaining: Callable[[], float],
    *,
    reload: bool = False,
) -> AsyncGenerator[RunState, None]:
    """The approval now, then again after every change notice (or, with none, every time
    `remaining()` seconds pass: as it was, or reloaded with `reload`); ends when `remaining()`
    is not positive or the server stops. The queue is opened before the first load, so no
    change falls between the two."""
    key = (tenant_id, approval_id)
    queue = hub.open(key)
    try:
        run = await load_approval(deps, tenant_id, approval_id)
        yield run
        while not hub.closed:
            left = remaining()
            if left <= 0:
                return
            try:
                seq = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                if reload:
                    run = await load_approval(deps, tenant_id, approval_id)
                yield run  # nothing heard: a heartbeat for streams
                continue
            if seq is None:
                return
            if seq != RECHECK and seq <= run.seq:
                continue
            # Woken by a commit of this process: its state is the run's, no need to read it.
            committed = hub.latest(key, seq) if seq != RECHECK else None
            run = committed or await load_approval(deps, tenant_id, approval_id)
            yield run
    finally:
        hub.close(key, queue)


async def cancel_approval(deps: ApiDeps, asker: Asker, approval_id: str, reason: str) -> RunState:
    await load_approval(deps, asker.tenant_id, approval_id)
    return await deps.engine.cancel(
        asker.tenant_id,
        approval_id,
        asker.actor,
        reason or "withdrawn by the requester",
        channel="api",
        admin=True,  # an API key is the tenant's operator
    )
