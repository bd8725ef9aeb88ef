"""The human-task operations of the REST API: the SLA view of pending tasks, delegation and
admin reassignment, questions to the requester and their answers, comments, out-of-office.
Registered on the same `api` as the run operations (importing this module declares them)."""

from __future__ import annotations

from datetime import timedelta

from engine import Away, InvalidInput, NotFound, RunState, person
from web.api.registry import Call, Operation, Result, operation
from web.api.routes import ACTS, ApiDeps, api_actor, run_action
from web.api.schemas import QuestionView
from web.api.task_schemas import (
    AnswerRequest,
    AskRequest,
    AwayRequest,
    AwayStatus,
    CommentRequest,
    CommentView,
    DelegateRequest,
    TaskList,
    TaskQuery,
    TaskView,
)
from web.errors import field_error

MAX_AWAY = timedelta(days=10 * 365)  # an absence further out than this is a typo


@operation(
    "GET",
    "/tasks",
    summary="Pending human tasks with their SLA clock (waited, next reminder, escalation, "
    "timeout), longest waiting first; `approver` keeps one person's",
    tag="tasks",
    query=TaskQuery,
    responses={200: TaskList},
    errors=(400, 401, 422),
)
async def list_tasks(deps: ApiDeps, call: Call) -> Result:
    q: TaskQuery = call.query
    found = await deps.engine.sla(call.tenant_id, principal=q.approver, limit=q.limit)
    now = deps.clock.now()
    tasks = sorted((TaskView.of(t, now) for t in found), key=lambda t: t.waiting_since)
    return 200, TaskList(now=now, tasks=tasks)


@run_action(
    "/runs/{run_id}/steps/{step_id}/delegate",
    summary="Hand an approver's part of a pending step to someone else (or, with `reassign`, "
    "reassign it as the tenant's admin); the chain is recorded",
    body=DelegateRequest,
    tag="tasks",
)
async def delegate_step(deps: ApiDeps, call: Call) -> RunState:
    req: DelegateRequest = call.body
    if not req.reassign and req.actor is None:
        message = "actor is required unless reassign is true"
        raise field_error("actor", "name the approver who delegates", message)
    return await deps.engine.delegate(
        call.tenant_id,
        call.path("run_id"),
        call.path("step_id"),
        req.actor or api_actor(call),
        req.to,
        reason=req.reason,
        channel="api",
        admin=True,  # an API key is the tenant's operator
        reassign=req.reassign,
        from_=req.from_ if req.reassign else None,
    )


def _question(
    state: RunState, step_id: str, *, qid: str | None = None, by: str = ""
) -> QuestionView:
    step = state.steps.get(step_id)
    found = [q for q in step.questions if (q.id == qid if qid else q.by == by)] if step else []
    if not found:
        raise NotFound(f"no such question on step {step_id!r}")
    return QuestionView.of(step_id, found[-1])


@operation(
    "POST",
    "/runs/{run_id}/steps/{step_id}/questions",
    summary="An approver asks the requester for more information (reminders and the timeout "
    "pause while it is open, unless the step says otherwise)",
    tag="tasks",
    body=AskRequest,
    responses={201: QuestionView},
    errors=ACTS,
    links={"answer_question": {"run_id": "run_id", "step_id": "step_id", "qid": "question_id"}},
)
async def ask_question(deps: ApiDeps, call: Call) -> Result:
    req: AskRequest = call.body
    step_id = call.path("step_id")
    state = await deps.engine.ask(
        call.tenant_id, call.path("run_id"), step_id, req.actor, req.text, channel="api"
    )
    return 201, _question(state, step_id, by=req.actor)


@operation(
    "POST",
    "/runs/{run_id}/steps/{step_id}/questions/{qid}/answer",
    summary="The requester answers a question (on their behalf)",
    tag="tasks",
    body=AnswerRequest,
    responses={200: QuestionView},
    errors=ACTS,
)
async def answer_question(deps: ApiDeps, call: Call) -> Result:
    req: AnswerRequest = call.body
    step_id, qid = call.path("step_id"), call.path("qid")
    state = await deps.engine.answer(
        call.tenant_id, call.path("run_id"), step_id, qid, req.actor, req.text, channel="api"
    )
    return 200, _question(state, step_id, qid=qid)


@operation(
    "POST",
    "/runs/{run_id}/comments",
    summary="Add a comment to a run's timeline (not a decision; finished runs too)",
    tag="tasks",
    body=CommentRequest,
    responses={201: CommentView},
    errors=ACTS,
)
async def add_comment(deps: ApiDeps, call: Call) -> Result:
    req: CommentRequest = call.body
    run_id = call.path("run_id")
    state = await deps.engine.comment(
        call.tenant_id, run_id, req.actor, req.text, step_id=req.step_id, channel="api"
    )
    view = CommentView(
        run_id=run_id,
        step_id=req.step_id,
        actor=req.actor,
        text=req.text,
        channel="api",
        at=state.updated_at,
    )
    return 201, view


def _user(raw: str) -> str:
    """The principal as the engine stores it ("Bob@X.com" -> "email:bob@x.com")."""
    try:
        return person(raw, "user")
    except InvalidInput:
        return raw  # nobody the engine could have stored: reads as not away


def _away(user: str, away: Away | None) -> AwayStatus:
    if away is None:
        return AwayStatus(user=user, away=False)
    return AwayStatus(
        user=user, away=True, delegate=away.delegate, starts=away.starts, until=away.until
    )


@operation(
    "GET",
    "/away/{user}",
    summary="A person's out-of-office window and delegate, if they set one",
    tag="tasks",
    responses={200: AwayStatus},
    errors=(401,),
)
async def get_away(deps: ApiDeps, call: Call) -> Result:
    user = _user(call.path("user"))
    return 200, _away(user, await deps.engine.away_of(call.tenant_id, user))


@operation(
    "PUT",
    "/away/{user}",
    summary="Set a person's out-of-office: until then, new requests for them go to `delegate`",
    tag="tasks",
    body=AwayRequest,
    responses={200: AwayStatus},
    errors=(400, 401, 422),
)
async def set_away(deps: ApiDeps, call: Call) -> Result:
    req: AwayRequest = call.body
    user = call.path("user")
    now = deps.clock.now()
    for name, at in (("until", req.until), ("starts", req.starts)):
        if at is not None and abs(at - now) > MAX_AWAY:
            message = f"{name} must be within {MAX_AWAY.days // 365} years of now"
            raise field_error(name, message)
    engine = deps.engine
    away = await engine.set_away(
        call.tenant_id,
        user,
        req.delegate,
        until=req.until,
        starts=req.starts,
        actor=api_actor(call),
    )
    return 200, _away(away.user, away)


@operation(
    "DELETE",
    "/away/{user}",
    summary="Clear a person's out-of-office (requests reach them again)",
    tag="tasks",
    responses={200: AwayStatus},
    errors=(401, 422),
)
async def clear_away(deps: ApiDeps, call: Call) -> Result:
    user = call.path("user")
    await deps.engine.clear_away(call.tenant_id, user)
    return 200, AwayStatus(user=_user(user), away=False)


# This module's routes, in the order the OpenAPI document lists them.
OPERATIONS: tuple[Operation, ...] = (
    list_tasks,
    delegate_step,
    ask_question,
    answer_question,
    add_comment,
    get_away,
    set_away,
    clear_away,
)
