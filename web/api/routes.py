"""The REST API's operations. Every call is scoped to the tenant of its API key: the engine
raises `NotFound` for another tenant's ids, which the API shows as 404."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from engine import Actor, Clock, DuplicateRun, EngineApi, RunState
from outbound.http import HostPolicy, RefusedDestination
from web.api.registry import Call, Header, Operation, Result, operation
from web.api.schemas import (
    AppliedWorkflow,
    ApplyWorkflowRequest,
    CancelRequest,
    DecisionRequest,
    InputRequest,
    RunDetail,
    RunList,
    RunQuery,
    RunView,
    StartRunRequest,
    WorkflowDetail,
    WorkflowList,
    WorkflowQuery,
    WorkflowSummary,
)
from web.boundary import check_text
from web.errors import ApiError, field_error

IDEMPOTENCY = Header(
    "Idempotency-Key",
    "Makes the start safe to retry: a second start with the same key and the same request "
    "(workflow, inputs, requester, callback_url) returns the same run; the key sent with a "
    "different request answers 409 `idempotency_conflict`.",
)


AuditBundleFn = Callable[[str, str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class ApiDeps:
    engine: EngineApi
    clock: Clock
    callback_policy: HostPolicy  # where callback URLs may point
    wait_max: float = 60.0  # seconds an approval long-poll or event stream stays open
    # The signed audit bundle of (tenant, run), None for no such run (cli.wiring supplies it).
    audit_bundle: AuditBundleFn | None = None


# What an action on a run or step can answer: bad JSON, no key, the actor may not, another
# tenant's (or no such) id, the run or step does not allow it now, invalid input.
ACTS = (400, 401, 403, 404, 409, 422)


def api_actor(call: Call) -> str:
    """Who acts when a call names nobody: the API key itself."""
    return f"api:{call.key.id}"


def key_proof(call: Call) -> dict[str, str]:
    """The identity proof of a call: the key it came with (its id and name, never its secret)."""
    return {"api_key_id": call.key.id, "api_key_name": call.key.name}


StateFn = Callable[[ApiDeps, Call], Awaitable[RunState]]


def run_action(
    path: str, *, summary: str, body: type[BaseModel], tag: str = "runs"
) -> Callable[[StateFn], Operation]:
    """Declare a POST that acts on a run through the engine and answers the run as it then
    is (200 `RunView`, errors `ACTS`); the handler returns the engine's new state."""

    def declare(fn: StateFn) -> Operation:
        @functools.wraps(fn)
        async def handler(deps: ApiDeps, call: Call) -> Result:
            return 200, RunView.of(await fn(deps, call))

        declare_post = operation(
            "POST", path, summary=summary, tag=tag, body=body, responses={200: RunView}, errors=ACTS
        )
        return declare_post(handler)

    return declare


# ---------------------------------------------------------------- workflows


@operation(
    "POST",
    "/workflows",
    summary="Apply a workflow definition (creates version N+1 unless identical to the latest)",
    tag="workflows",
    body=ApplyWorkflowRequest,
    responses={201: AppliedWorkflow, 200: AppliedWorkflow},
    links={
        name: {"name": "name"} for name in ("get_workflow", "disable_workflow", "enable_workflow")
    },
)
async def apply_workflow(deps: ApiDeps, call: Call) -> Result:
    req: ApplyWorkflowRequest = call.body
    text = req.source if req.source is not None else json.dumps(req.definition)
    applied = await deps.engine.apply_definition(call.tenant_id, text, req.filename)
    model = AppliedWorkflow(name=applied.name, version=applied.version, created=applied.created)
    return (201 if applied.created else 200), model


@operation(
    "GET",
    "/workflows",
    summary="List workflows (latest version of each)",
    tag="workflows",
    responses={200: WorkflowList},
    errors=(401,),
)
async def list_workflows(deps: ApiDeps, call: Call) -> Result:
    stored = await deps.engine.list_definitions(call.tenant_id)
    return 200, WorkflowList(workflows=[WorkflowSummary.of(d) for d in stored])


@operation(
    "GET",
    "/workflows/{name}",
    summary="Get a workflow (the latest version, or `?version=N`)",
    tag="workflows",
    query=WorkflowQuery,
    responses={200: WorkflowDetail},
)
async def get_workflow(deps: ApiDeps, call: Call) -> Result:
    query: WorkflowQuery = call.query
    stored = await deps.engine.get_definition(call.tenant_id, call.path("name"), query.version)
    return 200, WorkflowDetail.of(stored)


@operation(
    "POST",
    "/workflows/{name}/disable",
    summary="Disable a workflow: no new runs; running ones go on",
    tag="workflows",
    responses={200: WorkflowSummary},
    errors=(401, 404),
)
async def disable_workflow(deps: ApiDeps, call: Call) -> Result:
    return await _set_disabled(deps, call, True)


@operation(
    "POST",
    "/workflows/{name}/enable",
    summary="Enable a disabled workflow",
    tag="workflows",
    responses={200: WorkflowSummary},
    errors=(401, 404),
)
async def enable_workflow(deps: ApiDeps, call: Call) -> Result:
    return await _set_disabled(deps, call, False)


async def _set_disabled(deps: ApiDeps, call: Call, disabled: bool) -> Result:
    name = call.path("name")
    await deps.engine.set_disabled(call.tenant_id, name, disabled)
    return 200, WorkflowSummary.of(await deps.engine.get_definition(call.tenant_id, name))


# ---------------------------------------------------------------- runs


@operation(
    "POST",
    "/runs",
    summary="Start a run",
    tag="runs",
    body=StartRunRequest,
    headers=[IDEMPOTENCY],
    responses={201: RunView},
    errors=(400, 401, 404, 409, 422),
    links={
        **{
            name: {"run_id": "run_id"}
            for name in ("get_run", "cancel_run", "decide", "send_signal", "add_comment")
        },
        **{
            name: {"run_id": "run_id", "step_id": "current_step"}
            for name in ("submit_input", "delegate_step", "ask_question")
        },
    },
)
async def start_run(deps: ApiDeps, call: Call) -> Result:
    req: StartRunRequest = call.body
    key = call.request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > IDEMPOTENCY.max_length:
        raise ApiError(422, "invalid_request", "Idempotency-Key must be 1 to 255 characters")
    if key is not None:
        check_text(IDEMPOTENCY.name, key)  # header bytes that are not UTF-8 arrive as surrogates
    callback = str(req.callback_url) if req.callback_url else None
    if req.callback_url is not None:
        try:
            deps.callback_policy.check_host(req.callback_url.host or "")
        except RefusedDestination as exc:
            refused = f"callback_url refused: {exc}"
            raise field_error("callback_url", str(exc), refused) from exc
    try:
        state = await deps.engine.start_run(
            call.tenant_id,
            req.workflow,
            req.inputs,
            req.requester or api_actor(call),
            callback_url=callback,
            idempotency_key=key,
        )
    except DuplicateRun as dup:
        state = await deps.engine.get_run(call.tenant_id, dup.run_id)
    return 201, RunView.of(state)


@operation(
    "GET",
    "/runs",
    summary="List runs, newest first (filter by status, workflow, requester; cursor paging)",
    tag="runs",
    query=RunQuery,
    responses={200: RunList},
    errors=(400, 401, 422),
)
async def list_runs(deps: ApiDeps, call: Call) -> Result:
    q: RunQuery = call.query
    page = await deps.engine.list_runs(
        call.tenant_id,
        status=q.status,
        workflow=q.workflow,
        requester=q.requester,
        limit=q.limit,
        cursor=q.cursor,
    )
    return 200, RunList(runs=[RunView.of(r) for r in page.runs], next_cursor=page.next_cursor)


@operation(
    "GET",
    "/runs/{run_id}",
    summary="Get a run (as every call returns it) with its timeline (every event, who, when, "
    "through which door)",
    tag="runs",
    responses={200: RunDetail},
    errors=(401, 404),
)
async def get_run(deps: ApiDeps, call: Call) -> Result:
    run_id = call.path("run_id")
    state = await deps.engine.get_run(call.tenant_id, run_id)
    events = await deps.engine.timeline(call.tenant_id, run_id)
    return 200, RunDetail.with_timeline(state, events)


@run_action(
    "/runs/{run_id}/cancel",
    summary="Cancel a run (completed steps are compensated)",
    body=CancelRequest,
)
async def cancel_run(deps: ApiDeps, call: Call) -> RunState:
    req: CancelRequest = call.body
    return await deps.engine.cancel(
        call.tenant_id,
        call.path("run_id"),
        req.actor or api_actor(call),
        req.reason,
        channel="api",
        admin=True,  # an API key is the tenant's operator
    )


@run_action(
    "/runs/{run_id}/decisions",
    summary="Approve or reject a pending step on behalf of a named approver (checked like Slack)",
    body=DecisionRequest,
)
async def decide(deps: ApiDeps, call: Call) -> RunState:
    req: DecisionRequest = call.body
    return await deps.engine.decide(
        call.tenant_id,
        call.path("run_id"),
        req.step_id,
        Actor(req.actor, "api", proof=key_proof(call)),
        req.decision,
        req.fields,
        channel="api",
        proxy=api_actor(call),  # the key that asked for an approval may not decide it
    )


@run_action(
    "/runs/{run_id}/steps/{step_id}/input",
    summary="Fill in an input step on behalf of its assignee",
    body=InputRequest,
)
async def submit_input(deps: ApiDeps, call: Call) -> RunState:
    req: InputRequest = call.body
    actor = Actor(req.actor, "api", proof=key_proof(call))
    return await deps.engine.submit_input(
        call.tenant_id, call.path("run_id"), call.path("step_id"), actor, req.values, "api"
    )


@operation(
    "POST",
    "/runs/{run_id}/signals/{name}",
    summary="Send a named signal with a JSON payload to a run's waiting `signal` step",
    tag="runs",
    body_any=True,
    responses={200: RunView},
    errors=(400, 401, 404, 409, 422),
)
async def send_signal(deps: ApiDeps, call: Call) -> Result:
    payload: dict[str, Any] = call.body
    state = await deps.engine.signal(
        call.tenant_id, call.path("run_id"), call.path("name"), payload
    )
    return 200, RunView.of(state)


# This module's routes, in the order the OpenAPI document lists them.
OPERATIONS: tuple[Operation, ...] = (
    apply_workflow,
    list_workflows,
    get_workflow,
    disable_workflow,
    enable_workflow,
    start_run,
    list_runs,
    get_run,
    cancel_run,
    decide,
    submit_input,
    send_signal,
)
