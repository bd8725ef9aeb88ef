"""Mounts the declared operations on the aiohttp app: bearer-key authentication, input
validation, the handler, the response model. Errors become JSON in `web.errors.api_errors`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine import ApiKey, ApiKeyStore
from web.api import approvals, audit_routes, routes, task_routes
from web.api.openapi import PREFIX, build_openapi
from web.api.registry import Call, Operation, json_result, parse_body, parse_query
from web.api.routes import ApiDeps
from web.errors import ApiError

# The route table: every operation the API serves and documents, in the document's order.
# Each module lists its own; a module that is not named here serves nothing.
ROUTES: tuple[Operation, ...] = (
    *routes.OPERATIONS,
    *approvals.OPERATIONS,
    *task_routes.OPERATIONS,
    *audit_routes.OPERATIONS,
)


async def authenticate(request: web.Request, keys: ApiKeyStore, deps: ApiDeps) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized", "send an API key: Authorization: Bearer <key>")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "the Authorization header must be: Bearer <key>")
    key = await keys.authenticate(secret.strip(), deps.clock.now())
    if key is None:
        raise ApiError(401, "unauthorized", "this API key is unknown or was revoked")
    return key


def _endpoint(
    op: Operation, deps: ApiDeps, keys: ApiKeyStore
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        key = await authenticate(request, keys, deps)
        query = parse_query(op, request)
        body = await parse_body(op, request)
        result = await op.handler(deps, Call(request, key, body, query))
        if isinstance(result, web.StreamResponse):
            return result
        status, model = result
        return json_result(status, model)

    handle.__name__ = op.operation_id
    return handle


def add_api(app: web.Application, deps: ApiDeps, keys: ApiKeyStore, version: str) -> None:
    document: dict[str, Any] = build_openapi(ROUTES, version)

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get(PREFIX + "/openapi.json", openapi)
    for op in ROUTES:
        app.router.add_route(op.method, PREFIX + op.path, _endpoint(op, deps, keys))
