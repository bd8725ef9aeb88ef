"""/healthz (the process answers), /readyz (the database answers and is migrated) and /metrics."""

from __future__ import annotations

import logging

from aiohttp import web

from engine.ports import Clock
from web.errors import RETRY_AFTER
from web.metrics import Metrics
from web.ports import Readiness

log = logging.getLogger("countersign.web")


def add_health_routes(
    app: web.Application, readiness: Readiness | None, metrics: Metrics, clock: Clock
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

    async def metrics_text(_request: web.Request) -> web.Response:
        body = await metrics.render(clock.now())
        return web.Response(
            body=body.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_text)
