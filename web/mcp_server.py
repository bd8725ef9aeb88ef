"""The approvals API as an MCP server (Model Context Protocol, the official `mcp` SDK), for AI
agents whose host speaks MCP: `countersign mcp --tenant T` over stdio (`cli.mcp_cmd`), and the
same tools over streamable HTTP at /api/v1/mcp on the web server (`web.mcp_http`), with the
API keys of /api/v1. The tools act through `web.api.approval_actions`, as the REST routes do.

There is deliberately no tool that approves or rejects: an agent cannot approve itself. People
decide through Slack, email, the web page or `POST /runs/{id}/decisions`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError

from engine import EngineError, NOf
from web.api import approval_actions as actions
from web.api.approval_actions import Asker
from web.api.approval_schemas import (
    ApprovalList,
    ApprovalListQuery,
    ApprovalQuery,
    ApprovalView,
    CancelApproval,
    CreateApproval,
)
from web.api.routes import ApiDeps
from web.errors import ApiError, from_engine, from_validation
from web.pages.live import LiveHub

INSTRUCTIONS = (
    "Ask people to approve an action before you take it: call request_approval with what you "
    "are about to do in `details` (e.g. the tool and its arguments) and go on only when the "
    "answer's status is `approved` and its digest matches those details. `expired` is never "
    "an approval. You cannot approve or reject: people decide."
)
Wait = Annotated[
    str | None,
    Field(
        description="How long to wait for the decision before answering, e.g. `30s` (at most "
        "60s); none answers at once (status `pending`). Call get_approval to wait again."
    ),
]
# Who calls a tool: the stdio server knows it from its command line, the HTTP one from the key.
CallerFn = Callable[[Context], Asker]


def build_server(
    deps: ApiDeps, hub: LiveHub, caller: CallerFn, *, poll: float | None = None
) -> MCPServer:
    """The MCP server: its tools act for `caller(ctx)`; waits follow `hub` (and reload every
    `poll` seconds when the hub hears no other process)."""
    server = MCPServer("countersign", instructions=INSTRUCTIONS)

    async def answer(asker: Asker, approval_id: str, wait: str | None) -> ApprovalView:
        seconds = _parse(ApprovalQuery, {"wait": wait}, "wait").wait if wait else None
        if seconds is None:
            run = await actions.load_approval(deps, asker.tenant_id, approval_id)
        else:
            run = await actions.wait_decided(
                deps, hub, asker.tenant_id, approval_id, seconds.seconds, poll
            )
        return ApprovalView.of(run)

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=True))
    async def request_approval(
        ctx: Context,
        title: Annotated[str, Field(description="What is to be approved, in a few words.")],
        approvers: Annotated[
            list[str],
            Field(
                description="Slack user ids (U…), user groups (S…), channels (#name, C…) or "
                "email addresses."
            ),
        ],
        details: Annotated[
            dict[str, Any] | None,
            Field(description="Exactly what is approved, e.g. the tool and its arguments."),
        ] = None,
        summary: str = "",
        policy: Literal["any", "all", "majority"] | NOf = "any",
        timeout: Annotated[str | None, Field(description="E.g. `30m`.")] = None,  # noqa: ASYNC109 (the request's field)
        default_decision: Literal["approve", "reject"] = "reject",
        remind_every: str | None = None,
        fields: Annotated[
            list[dict[str, Any]] | None,
            Field(description="The approver's decision form, as in workflow files."),
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Field(description="E.g. your tool-call id: the same key returns the same request."),
        ] = None,
        editable: Annotated[
            list[str] | None,
            Field(description="Names in details.arguments the approver may edit before approving."),
        ] = None,
        grant: Annotated[
            dict[str, Any] | None,
            Field(
                description='Opt in to standing grants, e.g. {"max_hours": 8}: the approver may '
                "allow the same call for that long, and repeats are then approved at once."
            ),
        ] = None,
        wait: Wait = None,
    ) -> ApprovalView:
        """Ask people to approve something; answers the request (status `pending` unless it
        was decided within `wait`)."""
        asker = caller(ctx)
        body = {
            "title": title,
            "summary": summary,
            "details": details or {},
            "approvers": approvers,
            "policy": policy if isinstance(policy, str) else {"n": policy.n},
            "timeout": timeout,
            "default_decision": default_decision,
            "remind_every": remind_every,
            "fields": fields or [],
            "editable": editable or [],
            "grant": grant,
            "idempotency_key": idempotency_key,
        }
        req = _parse(CreateApproval, body, "arguments")
        async with _as_tool_error():
            run = await actions.request_approval(deps, asker, req, req.idempotency_key)
            if wait is None:
                return ApprovalView.of(run)
            return await answer(asker, run.run_id, wait)

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    async def get_approval(ctx: Context, approval_id: str, wait: Wait = None) -> ApprovalView:
        """An approval request as it is now, or once decided when `wait` is given."""
        async with _as_tool_error():
            return await answer(caller(ctx), approval_id, wait)

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    async def list_approvals(
        ctx: Context,
        status: Literal["pending", "approved", "rejected", "expired", "cancelled"] | None = (
            "pending"
        ),
        limit: int = 50,
        cursor: str | None = None,
    ) -> ApprovalList:
        """Approval requests, newest first, by status (pending by default); follow
        `next_cursor` until it is null."""
        query = _parse(
            ApprovalListQuery, {"status": status, "limit": limit, "cursor": cursor}, "arguments"
        )
        async with _as_tool_error():
            return await actions.list_approvals(deps, caller(ctx).tenant_id, query)

    @server.tool(annotations=ToolAnnotations(destructiveHint=True))
    async def cancel_approval(ctx: Context, approval_id: str, reason: str = "") -> ApprovalView:
        """Withdraw a pending approval request (its cards say so); answers it `cancelled`."""
        req = _parse(CancelApproval, {"reason": reason}, "arguments")
        async with _as_tool_error():
            run = await actions.cancel_approval(deps, caller(ctx), approval_id, req.reason)
            return ApprovalView.of(run)

    return server


def _parse(model: Any, data: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _tool_error(from_validation(exc, where)) from None


def _tool_error(error: ApiError) -> ToolError:
    """The API's error as the tool's: the message, then the details (which field, why)."""
    text = error.message
    if error.details:
        text += "\n" + json.dumps(error.details, ensure_ascii=False)
    return ToolError(text)


@asynccontextmanager
async def _as_tool_error() -> AsyncIterator[None]:
    """Turns the API's and the engine's refusals into tool errors the model reads."""
    try:
        yield
    except ApiError as exc:
        raise _tool_error(exc) from None
    except EngineError as exc:
        raise _tool_error(from_engine(exc)) from None
