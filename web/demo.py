"""A demo endpoint the app serves for its own workflows, so the bundled quickstart's http step
has something real to call with no other service running.

`POST /demo/echo` answers 201 with what it received: the JSON body, the `Idempotency-Key` the
http step sends, and an id derived from that key (a redelivered request gets the same id, as a
well-behaved API would answer). It keeps nothing and reads nothing but the request. The http
steps of workflows may reach exactly these URLs of the app itself (`cli.wiring` tells the
outbound policy), never the rest of the app or anything else on loopback.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

ECHO = "/demo/echo"
DEMO_PATHS = (ECHO,)  # the paths workflows' http steps may call on the app itself
MAX_BODY = 64 * 1024


async def echo(request: web.Request) -> web.Response:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _error(413, f"the body is larger than {MAX_BODY // 1024} KiB")
    try:
        body: Any = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        return _error(400, f"the body is not JSON: {exc}")
    key = request.headers.get("Idempotency-Key", "")
    digest = hashlib.sha256((key or raw.decode("utf-8", "replace")).encode()).hexdigest()
    return web.json_response(
        {"id": f"echo-{digest[:12]}", "idempotency_key": key or None, "received": body},
        status=201,
    )


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"code": "bad_request", "message": message, "details": None}}
    return web.json_response(body, status=status)


def add_demo_routes(app: web.Application) -> None:
    app.router.add_post(ECHO, echo)
