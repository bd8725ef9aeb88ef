"""/healthz (the process answers), /readyz (the database answers and is migrated) and /metrics
(aggregates over all tenants, never a tenant's id or name; behind `metrics_token` when set)."""

from __future__ import annotations

import logging

from aiohttp import web

from engine import Clock
from web.boundary import same_secret
from web.errors import RETRY_AFTER
from web.metrics import Metrics
from web.ports import Readiness

log = logging.getLogger("countersign.web")


def bearer_matches(request: web.Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>`."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(given.strip(), token)


def add_health_routes(
    app: web.Application,
    readiness: Readiness | None,
    metrics: Metrics,
    clock: Clock,
    metrics_token: str = "",
) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        if readiness is None:
            return web.json_response({"status": "ok", "database": "not checked"})
        try:
            current = await readiness.is_current()
        except Exception as exc:
            log.warning("readiness: the database does not answer: %s", exc)
            return web.json_response(
                {"status": "unavailable", "database": f"not reachable: {type(exc).__name__}"},
                status=503,
                headers={"Retry-After": RETRY_AFTER},
            )
        if not current:
            return web.json_response(
                {
                    "status": "unavailable",
                    "database": "migrations pending: run `countersign db upgrade`",
                },
                status=503,
            )
        return web.json_response({"status": "ok", "database": "current"})

    async def metrics_text(request: web.Request) -> web.Response:
        if metrics_token and not bearer_matches(request, metrics_token):
            return web.Response(
                status=401,
                text="send the METRICS_TOKEN setting: Authorization: Bearer <token>\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body = await metrics.render(clock.now())
        return web.Response(
            body=body.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_text)
