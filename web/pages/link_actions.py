"""What an email approver can do from their link page besides deciding: hand the request to
someone else, or ask the requester a question. Both are POSTs with the link page's CSRF token
(a GET never changes anything). Delegating spends the link (the step is no longer theirs);
asking does not, so the same link still decides once the answer is in."""

from __future__ import annotations

from aiohttp import web

from engine.errors import EngineError
from web.pages.common import check_link_csrf, deps, keep_link_csrf, link_csrf, render
from web.pages.links import Checked, check_link, form_page, problem_page
from web.pages.tasks import MAX_TEXT, principal_of


async def _checked_form(
    request: web.Request,
) -> tuple[Checked, dict[str, str]] | web.Response:
    checked = await check_link(request)
    if isinstance(checked, web.Response):
        return checked
    form = await request.post()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    if not check_link_csrf(request, form):
        message = "This form expired or was sent from elsewhere; press the button again."
        csrf = link_csrf(request)
        response = form_page(request, checked, csrf, choice=None, status=403, form_error=message)
        keep_link_csrf(request, response, csrf)
        return response
    return checked, values


async def delegate_from_link(request: web.Request) -> web.Response:
    got = await _checked_form(request)
    if isinstance(got, web.Response):
        return got
    link, form = got
    claims, csrf = link.claims, form.get("csrf", "")
    to = principal_of(form.get("to", ""))
    if not to:
        message = "Name the person to hand it to (a Slack user id or an email address)."
        return form_page(request, link, csrf, choice=None, status=422, form_error=message)
    d = deps(request)
    if not await d.access.nonces.use(
        claims.tenant_id, claims.nonce, claims.expires_at, d.clock.now()
    ):
        return problem_page(request, "used")
    try:
        await d.engine.delegate(
            claims.tenant_id,
            claims.run_id,
            claims.step_id,
            claims.principal,
            to,
            reason=form.get("reason", "")[:2000],
            channel="email",
        )
    except EngineError as exc:  # refused: nothing changed, the link stays usable
        await d.access.nonces.release(claims.tenant_id, claims.nonce)
        return form_page(request, link, csrf, choice=None, status=422, form_error=exc.message)
    return render(
        request,
        "link_done.html",
        headline=f"You handed “{link.spec.title or link.spec.id}” to {to}",
        explanation="They are asked in your place; this link no longer works.",
    )


async def ask_from_link(request: web.Request) -> web.Response:
    got = await _checked_form(request)
    if isinstance(got, web.Response):
        return got
    link, form = got
    claims, csrf = link.claims, form.get("csrf", "")
    text = form.get("question", "")
    if not text or len(text) > MAX_TEXT:
        message = "Write a question." if not text else f"At most {MAX_TEXT} characters."
        return form_page(request, link, csrf, choice=None, status=422, form_error=message)
    try:
        await deps(request).engine.ask(
            claims.tenant_id, claims.run_id, claims.step_id, claims.principal, text, channel="email"
        )
    except EngineError as exc:
        return form_page(request, link, csrf, choice=None, status=422, form_error=exc.message)
    return render(
        request,
        "link_done.html",
        headline=f"Your question was sent to {link.run.requester}",
        explanation="You will get their answer by email. This link still works for your "
        "decision until it expires.",
    )


def add_link_action_routes(app: web.Application) -> None:
    app.router.add_post("/links/{token}/delegate", delegate_from_link)
    app.router.add_post("/links/{token}/ask", ask_from_link)
