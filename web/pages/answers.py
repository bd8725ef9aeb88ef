"""The page behind the answer link of a question email: the same rules as decision links.

GET shows the question and a form and changes nothing (mail scanners prefetch links); a POST of
that form with its CSRF token records the answer and spends the link, so it works once. A
tampered, expired, used or foreign link gets a page saying which.
"""

from __future__ import annotations

from aiohttp import web

from engine import (
    EngineError,
    InvalidInput,
    NotAllowed,
    Question,
    RunFinished,
    RunState,
    StepNotPending,
)
from web.links import AnswerClaims
from web.pages.common import (
    check_link_csrf,
    deps,
    keep_link_csrf,
    link_csrf,
    render,
)
from web.pages.links import open_link, problem_page

MAX_ANSWER = 4000


class CheckedAnswer:
    def __init__(self, claims: AnswerClaims, run: RunState, question: Question, title: str):
        self.claims = claims
        self.run = run
        self.question = question
        self.title = title


async def check_answer_link(request: web.Request) -> CheckedAnswer | web.Response:
    opened = await open_link(request, deps(request).signer.read_answer)
    if isinstance(opened, web.Response):
        return opened
    claims, run, stored = opened
    try:  # the engine judges the link's principal; this page words its refusal
        run = await deps(request).engine.may_answer(
            claims.tenant_id, claims.run_id, claims.step_id, claims.question_id, claims.principal
        )
    except EngineError as refused:
        return _refused_page(request, claims, refused)
    found = next(q for q in run.steps[claims.step_id].questions if q.id == claims.question_id)
    title = stored.definition.title or stored.definition.name
    return CheckedAnswer(claims, run, found, title)


def _refused_page(request: web.Request, claims: AnswerClaims, refused: EngineError) -> web.Response:
    """The page of a refused answer link, by the refusal's code."""
    match refused.code:
        case "already_answered":
            return problem_page(request, "decided", "The question was already answered.")
        case "closed" | "not_waiting":
            status = refused.facts.get("status", "closed")
            return problem_page(request, "decided", f"The step is now {status}.")
    return problem_page(request, "foreign", f"It was sent to {claims.principal}.")


def answer_page(
    request: web.Request,
    link: CheckedAnswer,
    csrf: str,
    *,
    status: int = 200,
    text: str = "",
    form_error: str | None = None,
) -> web.Response:
    return render(
        request,
        "answer.html",
        status=status,
        claims=link.claims,
        run=link.run,
        question=link.question,
        title=link.title,
        csrf=csrf,
        text=text,
        form_error=form_error,
    )


async def show_answer_link(request: web.Request) -> web.Response:
    checked = await check_answer_link(request)
    if isinstance(checked, web.Response):
        return checked
    csrf = link_csrf(request)
    response = answer_page(request, checked, csrf)
    keep_link_csrf(request, response, csrf)
    return response


async def use_answer_link(request: web.Request) -> web.Response:
    checked = await check_answer_link(request)
    if isinstance(checked, web.Response):
        return checked
    d = deps(request)
    form = await request.post()
    text = str(form.get("answer", "")).strip()
    if not check_link_csrf(request, form):
        csrf = link_csrf(request)
        response = answer_page(
            request,
            checked,
            csrf,
            status=403,
            text=text,
            form_error="This form expired or was sent from elsewhere; press Send again.",
        )
        keep_link_csrf(request, response, csrf)
        return response
    csrf = str(form.get("csrf"))
    if not text or len(text) > MAX_ANSWER:
        problem = "Write an answer." if not text else f"At most {MAX_ANSWER} characters."
        return answer_page(request, checked, csrf, status=422, text=text, form_error=problem)
    claims = checked.claims
    now = d.clock.now()
    if not await d.access.nonces.use(claims.tenant_id, claims.nonce, claims.expires_at, now):
        return problem_page(request, "used")
    try:
        await d.engine.answer(
            claims.tenant_id,
            claims.run_id,
            claims.step_id,
            claims.question_id,
            claims.principal,
            text,
            channel="email",
        )
    except InvalidInput as exc:
        await d.access.nonces.release(claims.tenant_id, claims.nonce)
        message = "; ".join(exc.errors.values()) or exc.message
        return answer_page(request, checked, csrf, status=422, text=text, form_error=message)
    except (NotAllowed, StepNotPending, RunFinished) as exc:  # changed since the page opened
        return _refused_page(request, claims, exc)
    except EngineError as exc:  # nothing happened: the link stays usable
        await d.access.nonces.release(claims.tenant_id, claims.nonce)
        return answer_page(request, checked, csrf, status=409, text=text, form_error=exc.message)
    return render(
        request,
        "link_done.html",
        headline="Thank you, your answer was sent",
        explanation="It is shown to the approver who asked; you can close this page.",
    )


def add_answer_routes(app: web.Application) -> None:
    app.router.add_get("/answers/{token}", show_answer_link)
    app.router.add_post("/answers/{token}", use_answer_link)
