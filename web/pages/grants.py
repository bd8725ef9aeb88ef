"""The dashboard's standing grants: the tenant's grants in force (a person signed in by email
sees the ones they gave), each with Revoke for whoever gave it or an admin (the engine
decides who may)."""

from __future__ import annotations

from aiohttp import web

from engine import EngineError
from web.pages.common import check_session_csrf, deps, redirect, render, require_session
from web.pages.refusals import refusal_notice
from web.sla import until


async def grants_page(request: web.Request, notice: str | None = None) -> web.Response:
    session = await require_session(request)
    d = deps(request)
    grants = await d.engine.active_grants(session.tenant_id)
    mine_only = session.principal.startswith("email:")
    if mine_only:
        grants = [g for g in grants if g.granted_by == session.principal]
    now = d.clock.now()
    admin = d.config.is_admin(session.tenant_id, session.principal)
    rows = [
        {
            "grant": g,
            "ends": until(g.expires_at, now),
            "revocable": admin or g.granted_by == session.principal,
        }
        for g in grants
    ]
    status = 409 if notice else 200
    return render(request, "grants.html", status=status, rows=rows, notice=notice)


async def show_grants(request: web.Request) -> web.Response:
    return await grants_page(request)


async def revoke(request: web.Request) -> web.Response:
    session = await require_session(request)
    d = deps(request)
    form = await request.post()
    check_session_csrf(session, form)
    admin = d.config.is_admin(session.tenant_id, session.principal)
    try:
        await d.engine.revoke_grant(
            session.tenant_id, request.match_info["grant_id"], session.principal, admin=admin
        )
    except EngineError as exc:
        return await grants_page(request, notice=refusal_notice(exc))
    return redirect("/grants")


def add_grant_routes(app: web.Application) -> None:
    app.router.add_get("/grants", show_grants)
    app.router.add_post("/grants/{grant_id}/revoke", revoke)
