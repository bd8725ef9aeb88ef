"""The MCP server (`web.mcp_server`) on the web server: streamable HTTP at /api/v1/mcp, in the
same process and event loop as the rest of the app, behind the same API keys as /api/v1.

The SDK serves streamable HTTP as an ASGI app; the web server is aiohttp. Rather than a second
server on another port (a second listener to configure, proxy and secure), aiohttp authenticates
the key exactly as for /api/v1 (`web.api.server.authenticate`, same 401s) and hands the request
to the SDK's session manager through the small ASGI bridge below, with the key in the ASGI scope
for the tools to read. The manager runs stateless (each POST stands alone), so any replica
answers any call, and answers plain JSON (a tool that waits holds its POST, as a long-poll does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from multidict import CIMultiDict

from engine import ApiKey, ApiKeyStore
from web.api.approval_actions import Asker
from web.api.openapi import PREFIX
from web.api.routes import ApiDeps
from web.api.server import authenticate
from web.errors import ApiError
from web.mcp_server import build_server
from web.pages.live import HUB

MCP_PATH = PREFIX + "/mcp"
SCOPE_KEY = "countersign.api_key"  # where the bridge puts the caller's key in the ASGI scope


def _caller(ctx: Context) -> Asker:
    request = ctx.request_context.request
    key: ApiKey | None = request.scope.get(SCOPE_KEY) if request is not None else None
    if key is None:  # only reachable through the bridge, which authenticates first
        raise ApiError(401, "unauthorized", "send an API key: Authorization: Bearer <key>")
    return Asker(key.tenant_id, f"api:{key.id}", key.id, key.name)


def add_mcp(app: web.Application, deps: ApiDeps, keys: ApiKeyStore) -> None:
    server = build_server(deps, app[HUB], _caller)
    server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        # The SDK's Host/Origin check guards unauthenticated local servers against DNS
        # rebinding; here every call carries an API key a browser never sends on its own,
        # and the public host name is the operator's to choose.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager

    async def run_manager(_app: web.Application) -> AsyncIterator[None]:
        # The manager's task group must be left in the task that entered it, and aiohttp may
        # start and clean up the app in different tasks: it gets a task of its own.
        started, stop = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(hold(), name="mcp-session-manager")
        waits = [task, asyncio.create_task(started.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waits[1].cancel()
            task.result()  # raises what stopped it from starting
        try:
            yield
        finally:
            stop.set()
            await task

    async def handle(request: web.Request) -> web.StreamResponse:
        key = await authenticate(request, keys, deps)
        return await _asgi(manager.handle_request, request, {SCOPE_KEY: key})

    app.cleanup_ctx.append(run_manager)
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, MCP_PATH, handle)


async def _asgi(asgi_app: Any, request: web.Request, extra: dict[str, Any]) -> web.StreamResponse:
    """Run one aiohttp request through an ASGI app (HTTP only), streaming what it sends."""
    body = await request.read()  # bounded by the app's client_max_size
    transport = request.transport
    sock = transport.get_extra_info("sockname") if transport else None
    peer = transport.get_extra_info("peername") if transport else None
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?")[0].encode(),
        "query_string": request.query_string.encode(),
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.raw_headers],
        "client": tuple(peer[:2]) if peer else None,
        "server": tuple(sock[:2]) if sock else None,
        "state": {},
        **extra,
    }
    delivered = False
    response: web.StreamResponse | None = None

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no more body; the app is cancelled when the call ends
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            headers = CIMultiDict(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())
            )
            response = web.StreamResponse(status=message["status"], headers=headers)
            await response.prepare(request)
        elif message["type"] == "http.response.body" and response is not None:
            await response.write(message.get("body", b""))
            if not message.get("more_body", False):
                await response.write_eof()

    await asgi_app(scope, receive, send)
    if response is None:
        raise ApiError(500, "internal", "the MCP server sent no answer")
    return response
