"""Starting a run from the browser: the workspace's workflows (with what each needs beyond the
app: Slack, secrets), and a workflow's start form. The signed-in person is the requester."""

from __future__ import annotations

from aiohttp import web

from engine import EngineError, InvalidInput, NotFound, StoredDefinition, needs_of
from web.pages.common import (
    check_session_csrf,
    deps,
    form_values,
    redirect,
    render,
    require_session,
)


async def workflows(request: web.Request) -> web.Response:
    session = await require_session(request)
    stored = await deps(request).engine.list_definitions(session.tenant_id)
    listed = [
        {"stored": s, "needs": needs_of(s.definition).describe()} for s in stored if not s.disabled
    ]
    return render(request, "start.html", workflows=listed, workflow=None)


async def _latest(request: web.Request, tenant_id: str) -> StoredDefinition:
    try:
        stored = await deps(request).engine.get_definition(tenant_id, request.match_info["name"])
    except NotFound:
        raise web.HTTPNotFound(text="No such workflow in this workspace.") from None
    if stored.disabled:
        raise web.HTTPNotFound(text="This workflow is disabled.")
    return stored


async def start_form(request: web.Request) -> web.Response:
    session = await require_session(request)
    stored = await _latest(request, session.tenant_id)
    return render(
        request,
        "start.html",
        workflow=stored,
        needs=needs_of(stored.definition).describe(),
        values={},
        errors={},
        error=None,
    )


async def start(request: web.Request) -> web.Response:
    session = await require_session(request)
    form = await request.post()
    check_session_csrf(session, form)
    stored = await _latest(request, session.tenant_id)
    values = form_values(list(stored.definition.inputs), form)
    try:
        run = await deps(request).engine.start_run(
            session.tenant_id, stored.name, values, session.principal
        )
    except EngineError as exc:
        errors = exc.errors if isinstance(exc, InvalidInput) else {}
        return render(
            request,
            "start.html",
            status=422 if errors else 409,
            workflow=stored,
            needs=needs_of(stored.definition).describe(),
            values=values,
            errors=errors,
            error="Some fields need attention." if errors else exc.message,
        )
    return redirect(f"/runs/{run.run_id}")


def add_start_routes(app: web.Application) -> None:
    app.router.add_get("/workflows", workflows)
    app.router.add_get("/workflows/{name}/start", start_form)
    app.router.add_post("/workflows/{name}/start", start)
