"""The dashboard: what waits on me, runs with filters, a run's page with its timeline and the
forms to act on it. Every page needs a session and stays inside its tenant. People outside the
Slack workspace (email principals) only see runs they take part in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from engine import (
    EngineError,
    InvalidInput,
    NotFound,
    RunState,
    RunStatus,
    Shown,
    WebSession,
    step_title,
)
from web.api.audit_routes import bundle_response
from web.errors import refusal_status
from web.messages import step_message
from web.pages.agent_forms import typed_args, with_edits
from web.pages.common import (
    Refused,
    check_session_csrf,
    deps,
    form_values,
    record_shown,
    redirect,
    render,
    render_fragment,
    require_session,
    web_actor,
)
from web.pages.refusals import refusal_notice
from web.shown import visible_text
from web.sla import open_question_for, step_clock, task_clock

STATUSES: tuple[RunStatus, ...] = (
    "running",
    "compensating",
    "completed",
    "rejected",
    "failed",
    "cancelled",
    "compensation_failed",
)


def can_view(session: WebSession, run: RunState) -> bool:
    if not session.principal.startswith("email:"):
        return True  # a workspace member sees the workspace's runs
    return session.principal in run.participants()


async def load_visible_run(request: web.Request, session: WebSession) -> RunState:
    try:
        run = await deps(request).engine.get_run(session.tenant_id, request.match_info["run_id"])
    except NotFound:
        run = None
    if run is None or not can_view(session, run):
        raise web.HTTPNotFound(text="No such run in this workspace.")
    return run


async def home(request: web.Request) -> web.Response:
    session = await require_session(request)
    d = deps(request)
    tasks = await d.engine.sla(session.tenant_id, principal=session.principal, limit=100)
    mine = await d.engine.list_runs(session.tenant_id, requester=session.principal, limit=20)
    now = d.clock.now()
    clocks = {(t.run_id, t.step_id): task_clock(t, now) for t in tasks}
    questions = [
        {"run": run, "step": step, "question": q}
        for run in mine.runs
        if run.status == "running"
        for step, q in open_question_for(run, session.principal)
    ]
    return render(
        request, "home.html", tasks=tasks, runs=mine.runs, clocks=clocks, questions=questions
    )


async def runs_list(request: web.Request) -> web.Response:
    session = await require_session(request)
    q = request.query
    status = q.get("status") or None
    filters = {
        "status": status if status in STATUSES else None,
        "workflow": (q.get("workflow") or "").strip()[:63] or None,
        "requester": (q.get("requester") or "").strip()[:320] or None,
    }
    # Someone outside the Slack workspace sees the runs they take part in (can_view).
    only = session.principal if session.principal.startswith("email:") else None
    try:
        page = await deps(request).engine.list_runs(
            session.tenant_id,
            limit=50,
            cursor=q.get("cursor") or None,
            participant=only,
            **filters,
        )
    except EngineError:  # a damaged cursor: start from the newest
        page = await deps(request).engine.list_runs(
            session.tenant_id, limit=50, participant=only, **filters
        )
    next_url = "/runs?" + urlencode(
        {**{k: v for k, v in filters.items() if v}, "cursor": page.next_cursor or ""}
    )
    return render(
        request,
        "runs.html",
        runs=page.runs,
        filters=filters,
        statuses=STATUSES,
        next_cursor=page.next_cursor,
        next_url=next_url,
    )


async def run_page(
    request: web.Request,
    *,
    status: int = 200,
    failed_step: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    refused: Refused | None = None,
) -> web.Response:
    """A run's page; `refused`: a side form the engine refused, shown again as it was typed."""
    session = await require_session(request)
    d = deps(request)
    run = await load_visible_run(request, session)
    timeline = await d.engine.timeline(session.tenant_id, run.run_id)
    now = d.clock.now()
    clocks = {
        s.id: step_clock(s, now)
        for s in run.steps.values()
        if s.status == "waiting" and s.type in ("approval", "input")
    }
    if request.query.get("fragment"):
        html = render_fragment("_run_live.html", run=run, timeline=timeline, clocks=clocks)
        return web.Response(text=html, content_type="text/html")
    stored = await d.engine.get_definition(session.tenant_id, run.workflow, run.version)
    my_tasks = []
    mine: list[str] = []  # the steps waiting on me
    for step_id, principal in run.waiting_on():
        if principal != session.principal:
            continue
        mine.append(step_id)
        spec = stored.definition.step(step_id)
        failed = step_id == failed_step
        my_tasks.append(
            {
                "spec": spec,
                "title": step_title(stored.definition, run, step_id),
                "kind": run.steps[step_id].type,
                "values": values if failed else {},
                "errors": errors if failed else {},
                "error": error if failed else None,
                "clock": clocks.get(step_id),
            }
        )
    # An admin may reassign anyone's part of any waiting step: {step id: [who it waits on]}.
    reassignable: dict[str, list[str]] = {}
    if d.config.is_admin(session.tenant_id, session.principal):
        for step_id, principal in run.waiting_on():
            reassignable.setdefault(step_id, []).append(principal)
    my_questions = open_question_for(run, session.principal)
    shown = {
        "comment",
        *(f"answer-{q.id}" for _, q in my_questions),
        *(f"reassign-{s}" for s in reassignable),
    }
    shown |= {f"{kind}-{step_id}" for step_id in mine for kind in ("delegate", "ask")}
    if refused is not None and refused.form not in shown:
        notice, refused = refused.error, None  # its form is gone (e.g. the step moved on)
    current = run.current_step
    message = step_message(stored.definition.step(current), run) if current else ""
    response = render(
        request,
        "run.html",
        status=status,
        run=run,
        timeline=timeline,
        definition=stored.definition,
        source=stored.source,
        my_tasks=my_tasks,
        my_questions=my_questions,
        clocks=clocks,
        reassignable=reassignable,
        message=message,
        notice=notice,
        refused=refused,
        audit=d.audit_bundle is not None,
    )
    html = str(response.text)
    renderings = [
        Shown(
            step_id=step_id,
            recipient=session.principal,
            channel="web",
            surface="web page",
            text=visible_text(html, _request_part(step_id)),
        )
        for step_id in mine
    ]
    if renderings:
        await record_shown(request, session.tenant_id, run.run_id, renderings)
    return response


def _request_part(step_id: str) -> Callable[[str, dict[str, str]], bool]:
    """The part of the run page that asks for `step_id`: the title, the run's summary, its
    inputs and message, and the step's own section (not the timeline or other forms)."""
    parts = {"run-summary", "summary", "message"}

    def keep(tag: str, attrs: dict[str, str]) -> bool:
        return (
            tag == "h1"
            or bool(parts & set(attrs.get("class", "").split()))
            or attrs.get("id") == f"act-{step_id}"
        )

    return keep


async def show_run(request: web.Request) -> web.Response:
    return await run_page(request)


async def act(request: web.Request) -> web.Response:
    """POST of a decision or input form on the run page."""
    session = await require_session(request)
    d = deps(request)
    run = await load_visible_run(request, session)
    form = await request.post()
    check_session_csrf(session, form)
    step_id = request.match_info["step_id"]
    stored = await d.engine.get_definition(session.tenant_id, run.workflow, run.version)
    try:
        spec: Any = stored.definition.step(step_id)
    except KeyError:
        raise web.HTTPNotFound(text="No such step.") from None
    values = form_values(list(spec.fields), form)
    try:
        if request.match_info["action"] == "input":
            actor = web_actor(request, session)
            await d.engine.submit_input(
                session.tenant_id, run.run_id, step_id, actor, values, "web"
            )
        else:
            decision = form.get("decision")
            if decision not in ("approve", "reject"):
                raise InvalidInput({"decision": "choose Approve or Reject"})
            chosen = "approve" if decision == "approve" else "reject"
            await d.engine.decide(
                session.tenant_id,
                run.run_id,
                step_id,
                web_actor(request, session),
                chosen,
                with_edits(run, chosen, values, typed_args(form)),
                channel="web",
            )
    except InvalidInput as exc:
        return await run_page(
            request,
            status=422,
            failed_step=step_id,
            values={**values, **typed_args(form)},
            errors=exc.errors,
            error="Some fields need attention.",
        )
    except EngineError as exc:
        return await run_page(request, status=refusal_status(exc), notice=refusal_notice(exc))
    return redirect(f"/runs/{run.run_id}")


async def audit_bundle(request: web.Request) -> web.Response:
    """The run's signed audit bundle as a download (what `audit export --run` writes)."""
    session = await require_session(request)
    d = deps(request)
    run = await load_visible_run(request, session)
    bundle = await d.audit_bundle(session.tenant_id, run.run_id) if d.audit_bundle else None
    if bundle is None:
        raise web.HTTPNotFound(text="No audit evidence for this run here.")
    return bundle_response(bundle, run.run_id)


def add_dashboard_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/runs", runs_list)
    app.router.add_get("/runs/{run_id}", show_run)
    app.router.add_get("/runs/{run_id}/audit-bundle", audit_bundle)
    app.router.add_post("/runs/{run_id}/steps/{step_id}/{action:decide|input}", act)
