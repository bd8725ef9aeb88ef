"""Dashboard actions around a waiting step other than deciding: delegate it, ask the requester
for more information, answer such a question, comment on the run; and the SLA page listing the
tenant's pending tasks, longest waiting first. Every form needs the session's CSRF token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.access import WebSession
from engine.errors import EngineError, InvalidInput
from web.pages.common import check_session_csrf, deps, redirect, render, require_session
from web.pages.dashboard import load_visible_run, run_page
from web.sla import span, until

MAX_TEXT = 4000


def principal_of(text: str) -> str:
    """What a person typed into "delegate to": a Slack id, or an address made an email
    principal ("bob@x.com" -> "email:bob@x.com")."""
    value = text.strip()
    if "@" in value and not value.startswith("email:"):
        return f"email:{value}"
    return value


async def _form(request: web.Request) -> tuple[WebSession, Any, str]:
    session = await require_session(request)
    run = await load_visible_run(request, session)
    form = await request.post()
    check_session_csrf(session, form)
    return session, form, run.run_id


def _text(form: Any, name: str, what: str) -> str:
    text = str(form.get(name, "")).strip()
    if not text:
        raise InvalidInput({name: f"write {what}"})
    if len(text) > MAX_TEXT:
        raise InvalidInput({name: f"at most {MAX_TEXT} characters"})
    return text


async def _act(request: web.Request, step_id: str | None, action: Any) -> web.Response:
    """Run `action`; a refusal re-renders the run page saying why, success goes back to it."""
    try:
        run_id = await action()
    except InvalidInput as exc:
        message = "; ".join(f"{k}: {v}" for k, v in exc.errors.items()) or exc.message
        return await run_page(request, status=422, notice=message)
    except EngineError as exc:
        return await run_page(request, status=409, notice=exc.message)
    anchor = f"#step-{step_id}" if step_id else "#timeline"
    return redirect(f"/runs/{run_id}{anchor}")


async def delegate(request: web.Request) -> web.Response:
    step_id = request.match_info["step_id"]

    async def action() -> str:
        session, form, run_id = await _form(request)
        to = principal_of(str(form.get("to", "")))
        if not to:
            raise InvalidInput({"to": "name the person to delegate to (user id or email)"})
        reason = str(form.get("reason", "")).strip()[:2000]
        await deps(request).engine.delegate(
            session.tenant_id, run_id, step_id, session.principal, to, reason=reason, channel="web"
        )
        return run_id

    return await _act(request, step_id, action)


async def reassign(request: web.Request) -> web.Response:
    """An admin (the ADMINS setting) moves someone's part of a waiting step to another person."""
    step_id = request.match_info["step_id"]

    async def action() -> str:
        session, form, run_id = await _form(request)
        if session.principal not in deps(request).config.admins:
            raise web.HTTPForbidden(text="Only an admin can reassign a request.")
        to = principal_of(str(form.get("to", "")))
        if not to:
            raise InvalidInput({"to": "name the person to reassign to (user id or email)"})
        await deps(request).engine.delegate(
            session.tenant_id,
            run_id,
            step_id,
            session.principal,
            to,
            reason=str(form.get("reason", "")).strip()[:2000],
            channel="web",
            admin=True,
            from_=str(form.get("from", "")).strip() or None,
        )
        return run_id

    return await _act(request, step_id, action)


async def ask(request: web.Request) -> web.Response:
    step_id = request.match_info["step_id"]

    async def action() -> str:
        session, form, run_id = await _form(request)
        text = _text(form, "question", "a question")
        await deps(request).engine.ask(
            session.tenant_id, run_id, step_id, session.principal, text, channel="web"
        )
        return run_id

    return await _act(request, step_id, action)


async def answer(request: web.Request) -> web.Response:
    step_id = request.match_info["step_id"]

    async def action() -> str:
        session, form, run_id = await _form(request)
        text = _text(form, "answer", "an answer")
        await deps(request).engine.answer(
            session.tenant_id,
            run_id,
            step_id,
            request.match_info["qid"],
            session.principal,
            text,
            channel="web",
        )
        return run_id

    return await _act(request, step_id, action)


async def comment(request: web.Request) -> web.Response:
    async def action() -> str:
        session, form, run_id = await _form(request)
        text = _text(form, "comment", "a comment")
        step_id = str(form.get("step_id", "")).strip() or None
        await deps(request).engine.comment(
            session.tenant_id, run_id, session.principal, text, step_id=step_id, channel="web"
        )
        return run_id

    return await _act(request, None, action)


async def sla_page(request: web.Request) -> web.Response:
    """Every pending human task of the tenant (an email person: their own), longest waiting
    first, with when it is next reminded, escalated or timed out."""
    session = await require_session(request)
    d = deps(request)
    mine_only = session.principal.startswith("email:") or request.query.get("mine") == "1"
    principal = session.principal if mine_only else None
    found = await d.engine.sla(session.tenant_id, principal=principal, limit=500)
    now = d.clock.now()
    rows = [
        {
            "task": t,
            "waited": span(now - t.waiting_since),
            "reminder": until(t.next_reminder_at, now),
            "escalates": until(t.escalates_at, now),
            "times_out": until(t.times_out_at, now),
        }
        for t in sorted(found, key=lambda t: t.waiting_since)
    ]
    return render(request, "sla.html", rows=rows, mine_only=mine_only)


def add_task_routes(app: web.Application) -> None:
    app.router.add_get("/sla", sla_page)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/delegate", delegate)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/ask", ask)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/reassign", reassign)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/questions/{qid}/answer", answer)
    app.router.add_post("/runs/{run_id}/comments", comment)
