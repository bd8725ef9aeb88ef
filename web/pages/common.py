"""What every HTML page shares: the template environment, the signed-in session, CSRF checks,
reading a step's form out of a POST."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from engine import (
    AccessStores,
    Actor,
    Clock,
    EngineApi,
    EngineError,
    FormField,
    Shown,
    WebSession,
    agent_request,
    describe,
    input_rows,
)
from web import mrkdwn
from web.boundary import same_secret
from web.config import WebConfig
from web.errors import RETRY_AFTER, is_outage
from web.links import LinkSigner
from web.pages import agent_forms
from web.shown import session_id

log = logging.getLogger("countersign.web")
TEMPLATES = Path(__file__).parent.parent / "templates"
SESSION_COOKIE = "cs_session"
LINK_CSRF_COOKIE = "cs_link_csrf"
LIST_FIELDS = ("multiselect", "users")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_env.filters["describe"] = describe
_env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else ""
_env.filters["mrkdwn"] = mrkdwn.to_html
_env.globals["input_rows"] = input_rows
# An agent's approval request (tool, arguments, digest, key name) and its form's parts.
_env.globals["agent_of"] = agent_request
_env.globals["grant_choices"] = agent_forms.grant_choices
_env.filters["arg_json"] = agent_forms.arg_json


@dataclass(frozen=True)
class Refused:
    """A side form (delegate, ask, answer, comment, reassign) the engine refused: which form
    (its id on the page), what was typed into it, and why. The page shows it again with the
    reason beside it; templates/_kept.html reads it (autoescaped like everything else)."""

    form: str
    typed: dict[str, str]
    error: str


def typed(form: MultiDictProxy[Any], names: tuple[str, ...]) -> dict[str, str]:
    """What was typed into the fields `names` of a posted form, as sent."""
    return {name: str(form.get(name, "")) for name in names}


@dataclass(frozen=True)
class PageDeps:
    engine: EngineApi
    access: AccessStores
    config: WebConfig
    signer: LinkSigner
    clock: Clock
    # The signed audit bundle of (tenant, run), None for no such run: the run page's download.
    audit_bundle: Callable[[str, str], Awaitable[dict[str, Any] | None]] | None = None


DEPS: web.AppKey[PageDeps] = web.AppKey("page_deps", PageDeps)
SESSION: web.RequestKey[WebSession | None] = web.RequestKey("session")


def deps(request: web.Request) -> PageDeps:
    return request.app[DEPS]


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("user", request.get(SESSION))
    html = _env.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html")


# Every HTML answer, whichever handler made it (pages, fragments, error pages, install pages):
# pages show run data and carry secrets in their links.
HTML_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # links carry secrets in their path
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook, so no response escapes it (a middleware would miss those
    raised as exceptions): the HTML headers on every HTML response, and no MIME sniffing of
    anything."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.content_type == "text/html":
        for name, value in HTML_HEADERS.items():
            response.headers.setdefault(name, value)


HEADLINES = {403: "Not allowed", 404: "Not found", 405: "Not allowed", 413: "Too large"}


@web.middleware
async def page_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Errors on HTML pages as readable pages; an unexpected failure is logged, never shown."""
    if request.path.startswith(("/api/", "/static/")):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headline = HEADLINES.get(exc.status, "Something is wrong with this request")
        explanation = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else ""
        return render(
            request, "error.html", status=exc.status, headline=headline, explanation=explanation
        )
    except Exception as exc:
        if is_outage(request, exc):
            page = render(
                request,
                "error.html",
                status=503,
                headline="Unavailable for a moment",
                explanation="The database cannot be reached right now. Try again shortly.",
            )
            page.headers["Retry-After"] = RETRY_AFTER
            return page
        log.exception("internal error on %s %s", request.method, request.path)
        return render(
            request,
            "error.html",
            status=500,
            headline="Something went wrong",
            explanation="The error was logged. Try again in a moment.",
        )


def redirect(location: str) -> web.Response:
    """A 303 See Other: after a POST, the browser GETs `location`."""
    return web.Response(status=303, headers={"Location": location})


def render_fragment(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


async def current_session(request: web.Request) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    d = deps(request)
    session = await d.access.sessions.get_session(token, d.clock.now())
    request[SESSION] = session
    return session


async def require_session(request: web.Request) -> WebSession:
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/signin")
    return session


def web_actor(request: web.Request, session: WebSession) -> Actor:
    """The signed-in person, with the proof a decision records: an id of the session (never
    its cookie), its principal and when it was signed in."""
    token = request.cookies.get(SESSION_COOKIE, "")
    proof = {
        "web_session": session_id(token),
        "session_principal": session.principal,
        "signed_in_at": session.created_at.isoformat(),
    }
    return Actor(session.principal, "web", proof=proof)


async def record_shown(
    request: web.Request, tenant_id: str, run_id: str, shown: list[Shown]
) -> None:
    """Tell the engine what a page showed (it records what changed for that person). A refusal
    (e.g. the run is gone) is logged: the page was shown either way."""
    try:
        await deps(request).engine.record_shown(tenant_id, run_id, shown)
    except EngineError as exc:
        log.warning("could not record what a page of run %s showed: %s", run_id, exc)


def check_session_csrf(session: WebSession, form: MultiDictProxy[Any]) -> None:
    given = str(form.get("csrf", ""))
    if not same_secret(given, session.csrf_token):
        raise web.HTTPForbidden(text="This form has expired; reload the page and try again.")


def link_csrf(request: web.Request) -> str:
    """Double-submit token for link pages (no session): a cookie and the same value in the form.
    A page on another site can make a browser post the form but cannot read the cookie."""
    return request.cookies.get(LINK_CSRF_COOKIE) or secrets.token_urlsafe(24)


def keep_link_csrf(request: web.Request, response: web.StreamResponse, token: str) -> None:
    set_cookie(request, response, LINK_CSRF_COOKIE, token, max_age=3600)


def check_link_csrf(request: web.Request, form: MultiDictProxy[Any]) -> bool:
    cookie = request.cookies.get(LINK_CSRF_COOKIE, "")
    given = str(form.get("csrf", ""))
    return bool(cookie) and same_secret(given, cookie)


def set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="Lax",
        secure=deps(request).config.secure_cookies,
    )


def form_values(fields: list[FormField], form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The submitted values of a step's form fields, as text (the engine coerces them)."""
    values: dict[str, Any] = {}
    for field in fields:
        if field.type in LIST_FIELDS:
            values[field.id] = [str(v) for v in form.getall(field.id, []) if str(v).strip()]
        elif field.type == "checkbox":
            values[field.id] = field.id in form
        else:
            values[field.id] = str(form.get(field.id, ""))
    return values
