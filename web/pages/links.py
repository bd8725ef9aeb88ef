"""The pages behind the links in approval emails.

GET never changes anything (mail scanners prefetch links): it shows the request and the form.
Only a POST of that form, with its CSRF token, decides — and spends the link's nonce, so the link
works once. A tampered, expired, used or foreign link gets a page saying exactly which.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from aiohttp import web

from engine import (
    FINAL_STATUSES,
    Actor,
    EngineError,
    InvalidInput,
    NotFound,
    RunState,
    Shown,
    StepState,
    StoredDefinition,
    WorkflowDefinition,
    step_title,
)
from web.links import ApprovalClaims, LinkRefused
from web.messages import step_message
from web.pages.agent_forms import typed_args, with_edits
from web.pages.common import (
    Refused,
    check_link_csrf,
    current_session,
    deps,
    form_values,
    keep_link_csrf,
    link_csrf,
    record_shown,
    render,
)
from web.shown import in_main, visible_text

PROBLEMS: dict[str, tuple[int, str, str]] = {
    "tampered": (
        400,
        "This link is damaged",
        "The link was changed or cut short on its way to you, or it was not made by "
        "Countersign. Open it again from the original email, copying the whole address.",
    ),
    "expired": (410, "This link has expired", "Links in approval emails work for a limited time."),
    "used": (409, "This link was already used", "Each link in an approval email works once."),
    "foreign": (
        403,
        "This link is not for you",
        "The link was sent to someone else, or its recipient is no longer asked to act on "
        "this step.",
    ),
    "gone": (404, "This request no longer exists", "The run this link points to is gone."),
    "decided": (
        409,
        "This step no longer waits for you",
        "It was decided (or the run finished) after the email was sent.",
    ),
}


def moved_on(step: StepState, principal: str) -> str:
    """Why `principal` no longer acts on `step`: handed on, or escalated past them."""
    handed = [d for d in step.delegations if d.from_ == principal]
    if handed:
        d = handed[-1]
        how = "reassigned" if d.kind == "reassign" else "delegated"
        return f"It was {how} to {d.to} by {d.by}."
    if step.escalation_level > 0:
        why = step.escalation_reason
        to = ", ".join(step.approvers)
        return f"It was escalated to {to}" + (f": {why}." if why else ".")
    return ""


def problem_page(request: web.Request, problem: str, detail: str = "") -> web.Response:
    status, headline, explanation = PROBLEMS[problem]
    text = f"{explanation} {detail}".strip()
    return render(
        request,
        "link_problem.html",
        status=status,
        problem=problem,
        headline=headline,
        explanation=text,
    )


class Checked:
    """A link that passed every check: its claims, run and the step's definition."""

    def __init__(self, claims: ApprovalClaims, run: RunState, definition: WorkflowDefinition):
        self.claims = claims
        self.run = run
        self.definition = definition
        self.spec: Any = definition.step(claims.step_id)
        self.title = step_title(definition, run, claims.step_id)


class LinkClaims(Protocol):
    @property
    def tenant_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def principal(self) -> str: ...
    @property
    def nonce(self) -> str: ...


C = TypeVar("C", bound=LinkClaims)


async def open_link(
    request: web.Request, read: Callable[[str, datetime], C]
) -> tuple[C, RunState, StoredDefinition] | web.Response:
    """The checks every emailed link passes before its page: signature and expiry (`read`),
    not used yet, sent to whoever is signed in (if anyone), and its run still there."""
    d = deps(request)
    try:
        claims = read(request.match_info["token"], d.clock.now())
    except LinkRefused as refused:
        detail = ""
        if refused.problem == "expired" and refused.claims is not None:
            detail = f"This one expired on {refused.claims.expires_at:%Y-%m-%d %H:%M} UTC."
        return problem_page(request, refused.problem, detail)
    if await d.access.nonces.is_used(claims.tenant_id, claims.nonce):
        return problem_page(request, "used")
    session = await current_session(request)
    if session is not None and (
        session.tenant_id != claims.tenant_id or session.principal != claims.principal
    ):
        return problem_page(
            request,
            "foreign",
            f"It was sent to {claims.principal}; you are signed in as {session.principal}.",
        )
    try:
        run = await d.engine.get_run(claims.tenant_id, claims.run_id)
        stored = await d.engine.get_definition(claims.tenant_id, run.workflow, run.version)
    except NotFound:
        return problem_page(request, "gone")
    return claims, run, stored


LinkAction = Literal["decide", "delegate", "ask"]


async def check_link(request: web.Request, action: LinkAction = "decide") -> Checked | web.Response:
    """The link, if the engine lets its recipient take `action` (an approval link's page
    decides, hands on or asks) now; else the page of the engine's refusal."""
    opened = await open_link(request, deps(request).signer.read_approval)
    if isinstance(opened, web.Response):
        return opened
    claims, run, stored = opened
    engine = deps(request).engine
    where = (claims.tenant_id, claims.run_id, claims.step_id, claims.principal)
    try:  # the engine's question for the action, so the decider's rule for it is applied
        if claims.kind == "input":
            run = await engine.may_submit(*where, "email")
        elif action == "delegate":
            run = await engine.may_delegate(*where, channel="email")
        elif action == "ask":
            run = await engine.may_ask(*where, channel="email")
        else:
            run = await engine.may_decide(*where, channel="email")
    except EngineError as refused:
        return refused_page(request, refused, run, claims.step_id, claims.principal, action)
    return Checked(claims, run, stored.definition)


# Refusals of the recipient: the link is spent. Anything else (a conflict that outlasted the
# retries) changed nothing and the link still works.
REFUSALS = {"not_approver", "not_assignee", "own_request", "already_voted", "closed"}
REFUSALS |= {"not_waiting", "not_admin", "not_found"}

# The page each refusal code gets when a link is opened or used (anything else: "decided").
LINK_PROBLEMS = {
    "not_found": "gone",
    "not_approver": "foreign",
    "not_assignee": "foreign",
    "own_request": "foreign",
}


OWN_REQUEST = {
    "decide": "You cannot decide on your own request.",
    "delegate": "You cannot decide on your own request.",
    "ask": "You started this run: there is nobody to ask.",
}


def refused_page(
    request: web.Request,
    refused: EngineError,
    run: RunState,
    step_id: str,
    principal: str,
    action: LinkAction = "decide",
) -> web.Response:
    """The engine's refusal of the link's recipient, worded as a link page."""
    problem = LINK_PROBLEMS.get(refused.code, "decided")
    step = run.steps.get(step_id)
    if problem == "foreign":
        moved = moved_on(step, principal) if step is not None else ""
        if refused.code == "own_request":
            moved = OWN_REQUEST[action]
        return problem_page(request, "foreign", moved or f"It was sent to {principal}.")
    if problem == "decided":
        if refused.code == "already_voted":
            # a refused decision names the earlier vote; a refused hand-on or question does not
            votes = [v.decision for v in step.votes if v.actor == principal] if step else []
            decision = refused.facts.get("decision") or (votes[-1] if votes else None)
            verb = "approved" if decision == "approve" else "rejected"
            return problem_page(request, "decided", f"You already {verb} it.")
        status = refused.facts.get("status") or (step.status if step else run.status)
        return problem_page(request, "decided", f"The step is now {status}.")
    return problem_page(request, problem)


def form_page(
    request: web.Request,
    link: Checked,
    csrf: str,
    *,
    choice: str | None,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    refused: Refused | None = None,
) -> web.Response:
    """The link's page; `refused`: its delegate or ask form, refused, shown again as typed."""
    return render(
        request,
        "link.html",
        status=status,
        claims=link.claims,
        run=link.run,
        definition=link.definition,
        spec=link.spec,
        step_title=link.title,
        message=step_message(link.spec, link.run),
        kind=link.claims.kind,
        choice=choice,
        csrf=csrf,
        values=values or {},
        errors=errors or {},
        form_error=form_error,
        refused=refused,
        token=request.match_info["token"],
    )


async def show_link(request: web.Request) -> web.Response:
    checked = await check_link(request)
    if isinstance(checked, web.Response):
        return checked
    choice = request.query.get("choice")
    csrf = link_csrf(request)
    response = form_page(
        request, checked, csrf, choice=choice if choice in ("approve", "reject") else None
    )
    keep_link_csrf(request, response, csrf)
    claims = checked.claims
    page = Shown(
        step_id=claims.step_id,
        recipient=claims.principal,
        channel="email",
        surface="email link page",
        text=visible_text(str(response.text), in_main),
        fields={"link_nonce": claims.nonce},
    )
    await record_shown(request, claims.tenant_id, claims.run_id, [page])
    return response


def link_actor(claims: ApprovalClaims) -> Actor:
    """The link's recipient, with the proof a decision records: the signed link's principal,
    nonce and expiry (never the link's token)."""
    proof = {
        "link_principal": claims.principal,
        "link_nonce": claims.nonce,
        "link_expires_at": claims.expires_at.isoformat(),
    }
    return Actor(claims.principal, "email", proof=proof)


async def use_link(request: web.Request) -> web.Response:
    checked = await check_link(request)
    if isinstance(checked, web.Response):
        return checked
    d = deps(request)
    form = await request.post()
    if not check_link_csrf(request, form):
        csrf = link_csrf(request)
        response = form_page(
            request,
            checked,
            csrf,
            choice=None,
            status=403,
            form_error="This form expired or was sent from elsewhere; press the button again.",
        )
        keep_link_csrf(request, response, csrf)
        return response
    claims = checked.claims
    decision = str(form.get("decision", ""))
    if claims.kind == "approval" and decision not in ("approve", "reject"):
        return form_page(
            request,
            checked,
            str(form.get("csrf")),
            choice=None,
            status=422,
            form_error="Choose Approve or Reject.",
        )
    values = form_values(list(checked.spec.fields), form)
    now = d.clock.now()
    if not await d.access.nonces.use(claims.tenant_id, claims.nonce, claims.expires_at, now):
        return problem_page(request, "used")
    try:
        if claims.kind == "input":
            after = await d.engine.submit_input(
                claims.tenant_id, claims.run_id, claims.step_id, link_actor(claims), values, "email"
            )
        else:
            chosen = "approve" if decision == "approve" else "reject"
            after = await d.engine.decide(
                claims.tenant_id,
                claims.run_id,
                claims.step_id,
                link_actor(claims),
                chosen,
                with_edits(checked.run, chosen, values, typed_args(form)),
                channel="email",
            )
    except InvalidInput as exc:
        await d.access.nonces.release(claims.tenant_id, claims.nonce)
        return form_page(
            request,
            checked,
            str(form.get("csrf")),
            choice=decision or None,
            status=422,
            values={**values, **typed_args(form)},
            errors=exc.errors,
            form_error="Some fields need attention.",
        )
    except EngineError as exc:
        if exc.code in REFUSALS:
            return refused_page(
                request, exc, checked.run, claims.step_id, claims.principal
            )  # e.g. a conflict that outlasted the retries: nothing happened
        await d.access.nonces.release(claims.tenant_id, claims.nonce)
        return form_page(
            request, checked, str(form.get("csrf")), choice=None, status=409, form_error=exc.message
        )
    if claims.kind == "input":
        headline = "Thank you, your answers were recorded"
    else:
        verb = "approved" if decision == "approve" else "rejected"
        headline = f"You {verb} “{checked.title}”"
    return render(
        request,
        "link_done.html",
        headline=headline,
        explanation=f"{what_next(after, claims.step_id)} You can close this page.",
    )


def what_next(run: RunState, step_id: str) -> str:
    """What became of the run after a person's decision or input, in one sentence."""
    step = run.steps[step_id]
    if run.status == "compensating":
        return "This ended the run: its completed steps are being undone."
    if run.status in FINAL_STATUSES:
        why = f": {run.reason}" if run.reason else ""
        return f"The run has ended ({run.status.replace('_', ' ')}{why})."
    if step.status == "waiting":
        left = step.required - sum(v.decision == "approve" for v in step.votes)
        if step.type == "approval" and left > 0:
            more = "approval" if left == 1 else "approvals"
            return f"The step still needs {left} more {more}."
        return "The step still waits for others."
    return "The run continues on its own."


def add_link_routes(app: web.Application) -> None:
    app.router.add_get("/links/{token}", show_link)
    app.router.add_post("/links/{token}", use_link)
