"""What an email approver can do from their link page besides deciding: hand the request to
someone else, or ask the requester a question. Both are POSTs with the link page's CSRF token
(a GET never changes anything). Delegating spends the link (the step is no longer theirs);
asking does not, so the same link still decides once the answer is in."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from engine import EngineError
from web.pages.common import (
    Refused,
    check_link_csrf,
    deps,
    keep_link_csrf,
    link_csrf,
    render,
    typed,
)
from web.pages.links import Checked, check_link, form_page, problem_page
from web.pages.tasks import MAX_TEXT, principal_of

FIELDS = {"delegate": ("to", "reason"), "ask": ("question",)}


def _refused(
    request: web.Request, link: Checked, form: Refused, csrf: str, status: int
) -> web.Response:
    """The link page again, the refused form (delegate or ask) open with what was typed and
    why beside it."""
    return form_page(request, link, csrf, choice=None, status=status, refused=form)


async def _checked_form(
    request: web.Request, form_id: Literal["delegate", "ask"]
) -> tuple[Checked, dict[str, str]] | web.Response:
    checked = await check_link(request, form_id)
    if isinstance(checked, web.Response):
        return checked
    form = await request.post()
    values = typed(form, ("csrf", *FIELDS[form_id]))
    if not check_link_csrf(request, form):
        message = "This form expired or was sent from elsewhere; press the button again."
        csrf = link_csrf(request)
        refused = Refused(form_id, values, message)
        response = _refused(request, checked, refused, csrf, 403)
        keep_link_csrf(request, response, csrf)
        return response
    return checked, values


async def delegate_from_link(request: web.Request) -> web.Response:
    got = await _checked_form(request, "delegate")
    if isinstance(got, web.Response):
        return got
    link, form = got
    claims, csrf = link.claims, form["csrf"]
    to = principal_of(form["to"])

    def refused(message: str) -> web.Response:
        return _refused(request, link, Refused("delegate", form, message), csrf, 422)

    if not to:
        return refused("Name the person to hand it to (a Slack user id or an email address).")
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
            reason=form["reason"].strip()[:2000],
            channel="email",
        )
    except EngineError as exc:  # refused: nothing changed, the link stays usable
        await d.access.nonces.release(claims.tenant_id, claims.nonce)
        return refused(exc.message)
    return render(
        request,
        "link_done.html",
        headline=f"You handed “{link.title}” to {to}",
        explanation="They are asked in your place; this link no longer works.",
    )


async def ask_from_link(request: web.Request) -> web.Response:
    got = await _checked_form(request, "ask")
    if isinstance(got, web.Response):
        return got
    link, form = got
    claims, csrf = link.claims, form["csrf"]
    text = form["question"].strip()

    def refused(message: str) -> web.Response:
        return _refused(request, link, Refused("ask", form, message), csrf, 422)

    if not text or len(text) > MAX_TEXT:
        return refused("Write a question." if not text else f"At most {MAX_TEXT} characters.")
    try:
        await deps(request).engine.ask(
            claims.tenant_id, claims.run_id, claims.step_id, claims.principal, text, channel="email"
        )
    except EngineError as exc:
        return refused(exc.message)
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
