"""Dashboard actions around a waiting step other than deciding: delegate it, ask the requester
for more information, answer such a question, comment on the run; and the SLA page listing the
tenant's pending tasks, longest waiting first. Every form needs the session's CSRF token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from engine import Actor, EngineError, InvalidInput, SlaPage, WebSession, principal
from web.errors import refusal_status
from web.pages.common import (
    Refused,
    check_session_csrf,
    deps,
    redirect,
    render,
    require_session,
    typed,
)
from web.pages.dashboard import load_visible_run, run_page
from web.sla import span, until

MAX_TEXT = 4000


def principal_of(text: str) -> str:
    """What a person typed into "delegate to" as the engine stores it ("Bob@X.com" ->
    "email:bob@x.com"); the engine refuses, naming the accepted forms, what names nobody."""
    return principal.canonical(text.strip())


Action = Callable[[WebSession, str, "MultiDictProxy[Any]"], Awaitable[None]]


def _text(form: MultiDictProxy[Any], name: str, what: str) -> str:
    text = str(form.get(name, "")).strip()
    if not text:
        raise InvalidInput({name: f"write {what}"})
    if len(text) > MAX_TEXT:
        raise InvalidInput({name: f"at most {MAX_TEXT} characters"})
    return text


async def _act(
    request: web.Request,
    form_id: str,
    fields: tuple[str, ...],
    anchor: str,
    action: Action,
) -> web.Response:
    """Check the session and CSRF token, then run `action(session, run id, form)`. A refusal
    re-renders the run page with form `form_id` showing what was typed into `fields` and why
    (its status by the refusal's code, as the API gives it: 422 bad input, 403 not allowed, 409
    not waiting or already done); success goes back to the run page at `anchor`."""
    session = await require_session(request)
    run = await load_visible_run(request, session)
    form = await request.post()
    check_session_csrf(session, form)
    try:
        await action(session, run.run_id, form)
    except EngineError as exc:
        status = refusal_status(exc)  # as the API and the decision form answer the same code
        message = exc.message
        if isinstance(exc, InvalidInput) and exc.errors:
            message = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        refused = Refused(form_id, typed(form, fields), message)
        return await run_page(request, status=status, refused=refused)
    return redirect(f"/runs/{run.run_id}{anchor}")


async def _hand_over(request: web.Request, *, admin: bool) -> web.Response:
    """Delegate (an approver hands their part on) or (`admin`) reassign someone's part of a
    waiting step to another person, which the engine allows an admin (the ADMINS setting)."""
    step_id = request.match_info["step_id"]
    what = "reassign" if admin else "delegate"

    async def action(session: WebSession, run_id: str, form: MultiDictProxy[Any]) -> None:
        to = principal_of(str(form.get("to", "")))
        if not to:
            raise InvalidInput({"to": f"name the person to {what} to (user id or email)"})
        # The session's role; the engine refuses a reassign to anyone not an admin.
        is_admin = deps(request).config.is_admin(session.tenant_id, session.principal)
        await deps(request).engine.delegate(
            session.tenant_id,
            run_id,
            step_id,
            Actor(session.principal, "web", is_admin),
            to,
            reason=str(form.get("reason", "")).strip()[:2000],
            reassign=admin,
            from_=(str(form.get("from", "")).strip() or None) if admin else None,
        )

    fields = ("from", "to", "reason") if admin else ("to", "reason")
    return await _act(request, f"{what}-{step_id}", fields, f"#step-{step_id}", action)


async def delegate(request: web.Request) -> web.Response:
    return await _hand_over(request, admin=False)


async def reassign(request: web.Request) -> web.Response:
    return await _hand_over(request, admin=True)


async def ask(request: web.Request) -> web.Response:
    step_id = request.match_info["step_id"]

    async def action(session: WebSession, run_id: str, form: MultiDictProxy[Any]) -> None:
        text = _text(form, "question", "a question")
        await deps(request).engine.ask(
            session.tenant_id, run_id, step_id, session.principal, text, channel="web"
        )

    return await _act(request, f"ask-{step_id}", ("question",), f"#step-{step_id}", action)


async def answer(request: web.Request) -> web.Response:
    step_id, qid = request.match_info["step_id"], request.match_info["qid"]

    async def action(session: WebSession, run_id: str, form: MultiDictProxy[Any]) -> None:
        text = _text(form, "answer", "an answer")
        await deps(request).engine.answer(
            session.tenant_id, run_id, step_id, qid, session.principal, text, channel="web"
        )

    return await _act(request, f"answer-{qid}", ("answer",), f"#step-{step_id}", action)


async def comment(request: web.Request) -> web.Response:
    async def action(session: WebSession, run_id: str, form: MultiDictProxy[Any]) -> None:
        text = _text(form, "comment", "a comment")
        step_id = str(form.get("step_id", "")).strip() or None
        await deps(request).engine.comment(
            session.tenant_id, run_id, session.principal, text, step_id=step_id, channel="web"
        )

    return await _act(request, "comment", ("comment",), "#timeline", action)


SLA_PAGE = 100  # tasks a page of /sla shows; "More" continues after the last one
LONG_WAIT = timedelta(days=1)  # the summary counts the tasks waiting longer than this


async def sla_page(request: web.Request) -> web.Response:
    """The tenant's pending human tasks (an email person, or `mine=1`: their own), longest
    waiting first, a page at a time, with when each is next reminded, escalated or timed out;
    above them, counts over all of them (counted by the database, not from the rows shown)."""
    session = await require_session(request)
    d = deps(request)
    mine_only = session.principal.startswith("email:") or request.query.get("mine") == "1"
    principal = session.principal if mine_only else None
    cursor = request.query.get("cursor") or None
    now = d.clock.now()

    async def tasks(cursor: str | None) -> SlaPage:
        return await d.engine.sla_page(
            session.tenant_id, principal=principal, limit=SLA_PAGE, cursor=cursor
        )

    summary = d.engine.sla_summary(session.tenant_id, principal=principal, cutoff=now - LONG_WAIT)
    try:
        found, counts = await asyncio.gather(tasks(cursor), summary)
    except InvalidInput:  # a damaged cursor: start from the longest waiting
        cursor = None
        found, counts = await asyncio.gather(
            tasks(None),
            d.engine.sla_summary(session.tenant_id, principal=principal, cutoff=now - LONG_WAIT),
        )
    rows = [
        {
            "task": t,
            "waited": span(now - t.waiting_since),
            "reminder": until(t.next_reminder_at, now),
            "escalates": until(t.escalates_at, now),
            "times_out": until(t.times_out_at, now),
        }
        for t in found.tasks
    ]
    mine = {"mine": "1"} if request.query.get("mine") == "1" else {}
    return render(
        request,
        "sla.html",
        rows=rows,
        mine_only=mine_only,
        counts=counts,
        oldest=span(now - counts.oldest) if counts.oldest else "",
        long_wait=span(LONG_WAIT),
        later_page=cursor is not None,
        first_url="/sla?" + urlencode(mine) if mine else "/sla",
        next_url="/sla?" + urlencode({**mine, "cursor": found.next_cursor})
        if found.next_cursor
        else "",
    )


def add_task_routes(app: web.Application) -> None:
    app.router.add_get("/sla", sla_page)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/delegate", delegate)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/ask", ask)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/reassign", reassign)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/questions/{qid}/answer", answer)
    app.router.add_post("/runs/{run_id}/comments", comment)
