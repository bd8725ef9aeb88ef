"""Declared API operations: one declaration gives the aiohttp route, the request validation and
the OpenAPI entry, so the document always says what the server does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from engine import ApiKey
from web.boundary import parse_json
from web.errors import ApiError, from_validation

MAX_BODY = 1_048_576 + 4096


@dataclass(frozen=True)
class Call:
    """What a handler gets: the caller's key (its tenant) and the validated inputs."""

    request: web.Request
    key: ApiKey
    body: Any
    query: Any

    @property
    def tenant_id(self) -> str:
        return self.key.tenant_id

    def path(self, name: str) -> str:
        return self.request.match_info[name]


Result = tuple[int, BaseModel]
# A streaming operation (`stream`) answers with the response it wrote itself.
HandlerFn = Callable[[Any, Call], Awaitable[Result | web.StreamResponse]]


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    max_length: int = 255


@dataclass
class Operation:
    method: str
    path: str  # relative to /api/v1, aiohttp syntax: /runs/{run_id}
    operation_id: str
    summary: str
    tag: str
    handler: HandlerFn
    responses: dict[int, type[BaseModel]]
    body: type[BaseModel] | None = None
    body_any: bool = False  # a free JSON object (signal payloads)
    query: type[BaseModel] | None = None
    headers: list[Header] = field(default_factory=list)
    errors: tuple[int, ...] = (400, 401, 404, 422)
    # OpenAPI links from the success response: {operation id: {parameter: response field}}
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    # The media type of a streamed 200 (e.g. text/event-stream); its events carry `responses`.
    stream: str | None = None


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    responses: dict[int, type[BaseModel]],
    body: type[BaseModel] | None = None,
    body_any: bool = False,
    query: type[BaseModel] | None = None,
    headers: list[Header] | None = None,
    errors: tuple[int, ...] = (400, 401, 404, 422),
    links: dict[str, dict[str, str]] | None = None,
    stream: str | None = None,
) -> Callable[[HandlerFn], Operation]:
    """Declare a handler as an operation. This only builds the `Operation` value: it is
    registered nowhere, so a route exists only where a module lists it in its `OPERATIONS`
    and `web.api.server.ROUTES` composes those lists."""

    def declare(fn: HandlerFn) -> Operation:
        return Operation(
            method=method,
            path=path,
            operation_id=fn.__name__,
            summary=summary,
            tag=tag,
            handler=fn,
            responses=responses,
            body=body,
            body_any=body_any,
            query=query,
            headers=headers or [],
            errors=errors,
            links=links or {},
            stream=stream,
        )

    return declare


async def read_json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the request body must be a JSON object")
    return data


def parse_query(op: Operation, request: web.Request) -> Any:
    if op.query is None:
        return None
    known = op.query.model_fields
    unknown = sorted(set(request.query) - set(known))
    if unknown:
        raise ApiError(422, "invalid_request", f"unknown query parameter(s): {', '.join(unknown)}")
    try:
        return op.query.model_validate({k: request.query[k] for k in request.query})
    except ValidationError as exc:
        raise from_validation(exc, "query string") from exc


async def parse_body(op: Operation, request: web.Request) -> Any:
    if op.body is None and not op.body_any:
        return None
    data = await read_json_object(request)
    if op.body is None:
        return data
    try:
        return op.body.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, "request body") from exc


def json_result(status: int, model: BaseModel) -> web.Response:
    return web.json_response(
        text=model.model_dump_json(by_alias=True), status=status, content_type="application/json"
    )
