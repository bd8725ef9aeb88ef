"""Passwordless sign-in: a one-time link (DMed by the bot or emailed) opens a page whose button
POSTs (so link unfurlers and mail scanners cannot spend it), which starts a session cookie
scoped to one tenant and one person."""

from __future__ import annotations

from aiohttp import web

from web.links import LinkRefused
from web.pages.common import (
    SESSION_COOKIE,
    check_link_csrf,
    check_session_csrf,
    current_session,
    deps,
    keep_link_csrf,
    link_csrf,
    redirect,
    render,
    set_cookie,
)
from web.pages.links import problem_page


async def sign_in_help(request: web.Request) -> web.Response:
    await current_session(request)
    return render(request, "signin.html", claims=None, csrf="")


async def show_sign_in(request: web.Request) -> web.Response:
    d = deps(request)
    try:
        claims = d.signer.read_sign_in(request.match_info["token"], d.clock.now())
    except LinkRefused as refused:
        return problem_page(request, refused.problem)
    if await d.access.nonces.is_used(claims.tenant_id, claims.nonce):
        return problem_page(request, "used")
    csrf = link_csrf(request)
    response = render(request, "signin.html", claims=claims, csrf=csrf, user=None)
    keep_link_csrf(request, response, csrf)
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    d = deps(request)
    now = d.clock.now()
    try:
        claims = d.signer.read_sign_in(request.match_info["token"], now)
    except LinkRefused as refused:
        return problem_page(request, refused.problem)
    form = await request.post()
    if not check_link_csrf(request, form):
        csrf = link_csrf(request)
        response = render(request, "signin.html", status=403, claims=claims, csrf=csrf, user=None)
        keep_link_csrf(request, response, csrf)
        return response
    if not await d.access.nonces.use(claims.tenant_id, claims.nonce, claims.expires_at, now):
        return problem_page(request, "used")
    ttl = d.config.session_ttl
    new = await d.access.sessions.create_session(claims.tenant_id, claims.principal, now, now + ttl)
    response = redirect("/")
    set_cookie(request, response, SESSION_COOKIE, new.token, max_age=int(ttl.total_seconds()))
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    token = request.cookies.get(SESSION_COOKIE)
    if session is not None and token:
        check_session_csrf(session, await request.post())
        await deps(request).access.sessions.end_session(token)
    response = redirect("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def add_auth_routes(app: web.Application) -> None:
    app.router.add_get("/signin", sign_in_help)
    app.router.add_get("/signin/{token}", show_sign_in)
    app.router.add_post("/signin/{token}", sign_in)
    app.router.add_post("/signout", sign_out)
