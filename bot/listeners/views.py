"""Modal submissions: start a run, fill in an input step, decide with fields, define a workflow,
delegate a request, ask the requester a question, answer one.

The ack carries the validation errors (`response_action: errors`) shown on the fields, so the
fields are checked before it (the engine's own check, `validate_values`). A decision, a form and a
start are then applied after the ack (`Then`), so the ack never waits on the run's lock; what the
engine refuses then is told to the person in a DM. The hand-offs and `define` still ask the
engine before acking: their refusals are about a field (who to delegate to, the YAML).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import ids
from bot.blocks.forms import ACTION, read
from bot.blocks.kit import read_metadata, section, truncate
from bot.blocks.modals import ANSWER, DELEGATE_TO, QUESTION, REASON, REASSIGN_FROM
from bot.deps import Deps, dm, sentence, slack_actor, tenant_of
from bot.listeners import bind
from bot.refusals import refusal_text
from engine import (
    ApprovalStep,
    DefinitionError,
    EngineError,
    InputStep,
    InvalidInput,
    NotAllowed,
    RunState,
    validate_values,
)

ERROR_TEXT = 2000
StepT = TypeVar("StepT", ApprovalStep, InputStep)


def _input_blocks(view: dict[str, Any]) -> list[str]:
    return [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"]


async def _reject(ack: AsyncAck, view: dict[str, Any], error: EngineError) -> None:
    """Answer the submission with the engine's complaint, on the fields it names when it can."""
    blocks = _input_blocks(view)
    errors: dict[str, str] = {}
    if isinstance(error, InvalidInput):
        for field, message in error.errors.items():
            where = field if field in blocks else (blocks[0] if blocks else None)
            if where:
                errors[where] = truncate(
                    (errors.get(where, "") + " " + message).strip(), ERROR_TEXT
                )
    elif blocks:
        errors[blocks[0]] = truncate(sentence(error.message), ERROR_TEXT)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack(response_action="update", view=_notice("Not done", sentence(error.message)))


def _notice(title: str, text: str) -> View:
    return View(type="modal", title=title, close="Close", blocks=[section(text)])


async def _answer(
    ack: AsyncAck, view: dict[str, Any], work: Callable[[], Awaitable[View | None]]
) -> None:
    """Do the submission's work, then ack: plainly (the modal closes), with the view `work`
    returns, or with the engine's complaint on the fields."""
    try:
        shown = await work()
    except EngineError as e:
        await _reject(ack, view, e)
        return
    except Exception:
        failed = "Countersign could not do this; the error is in its log."
        await ack(response_action="update", view=_notice("Something went wrong", failed))
        raise
    if shown is None:
        await ack()
    else:
        await ack(response_action="update", view=shown)


def _issues(error: DefinitionError) -> str:
    return "\n".join(
        (f"line {i.line}: " if i.line else "") + f"{i.field or 'top level'}: {i.message}"
        for i in error.issues
    )


def _value(view: dict[str, Any], block_id: str) -> str:
    """What was entered in one of our handoff modals' inputs ("" when empty)."""
    raw = view["state"]["values"].get(block_id, {}).get(ACTION, {})
    return str(raw.get("selected_user") or raw.get("value") or "").strip()


def _required(view: dict[str, Any], block_id: str, what: str) -> str:
    value = _value(view, block_id)
    if not value:
        raise InvalidInput({block_id: f"{what} is required"})
    return value


class Submission:
    """A modal submitted by `user` in workspace `tenant`; `meta` is read from the modal's
    private metadata when first asked (inside the work, so a bad one is answered like any
    other failure)."""

    def __init__(
        self, tenant: str, user: str, view: dict[str, Any], body: dict[str, Any] | None = None
    ) -> None:
        self.tenant = tenant
        self.user = user
        self.view = view
        self.body = body or {"user": {"id": user}}

    @cached_property
    def meta(self) -> dict[str, Any]:
        return read_metadata(self.view.get("private_metadata", ""))

    def value(self, block_id: str) -> str:
        return _value(self.view, block_id)

    def required(self, block_id: str, what: str) -> str:
        return _required(self.view, block_id, what)

    def values(self) -> dict[str, Any]:
        """The raw state of the modal's inputs, for `forms.read`."""
        values: dict[str, Any] = self.view["state"]["values"]
        return values


@dataclass(frozen=True)
class Then:
    """What a checked submission does after its ack (the engine's write)."""

    apply: Callable[[], Awaitable[object]]
    what: str


Work = Callable[[Deps, Submission], Awaitable[View | Then | None]]


async def modal_submitted(
    deps: Deps,
    work: Work,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
) -> None:
    """A modal submitted: its `work` runs before the ack (see `_answer`), so an invalid field
    or a refusal shows in the modal; what it leaves for `Then` is applied after the ack."""
    submission = Submission(tenant_of(context), body["user"]["id"], view, body)
    later: list[Then] = []

    async def checked() -> View | None:
        shown = await work(deps, submission)
        if isinstance(shown, Then):
            later.append(shown)
            return None
        return shown

    await _answer(ack, view, checked)
    for then in later:
        deps.background.spawn(_applied(client, submission.user, then), then.what)


async def _applied(client: AsyncWebClient, user: str, then: Then) -> None:
    """Apply a submission after its ack; a refusal (say the step closed meanwhile) is told to
    the person who submitted it."""
    try:
        await then.apply()
    except EngineError as refused:
        await dm(client, user, refusal_text(refused))
    except Exception:
        await dm(client, user, "Countersign could not do this; the error is in its log.")
        raise


async def _hand_on(
    deps: Deps, s: Submission, to: str, blame: Callable[[str], str], **how: Any
) -> None:
    """Hand the modal's step on to `to`; a refusal shows on the field `blame` names."""
    try:
        await deps.engine.delegate(
            s.tenant, s.meta["run_id"], s.meta["step_id"], s.user, to, channel="slack", **how
        )
    except NotAllowed as e:
        raise InvalidInput({blame(e.message): sentence(e.message)}) from e


async def delegate(deps: Deps, s: Submission) -> None:
    to = s.required(DELEGATE_TO, "who to delegate to")
    # A refusal (e.g. `to` is the requester) is about `to`.
    await _hand_on(deps, s, to, lambda _: DELEGATE_TO, reason=s.value(REASON))


async def reassign(deps: Deps, s: Submission) -> None:
    from_ = s.required(REASSIGN_FROM, "whose part moves")
    to = s.required(DELEGATE_TO, "who gets it")
    reason = s.value(REASON) or "reassigned by an admin"

    def blame(error: str) -> str:  # "UBOB is not asked on …", "UCAT is already asked …"
        return REASSIGN_FROM if error.startswith(from_) else DELEGATE_TO

    admin = deps.is_admin(s.user)  # the engine refuses anyone else
    await _hand_on(deps, s, to, blame, from_=from_, reason=reason, admin=admin, reassign=True)


async def ask(deps: Deps, s: Submission) -> None:
    meta = s.meta
    question = s.required(QUESTION, "a question")
    await deps.engine.ask(
        s.tenant, meta["run_id"], meta["step_id"], s.user, question, channel="slack"
    )


async def answer(deps: Deps, s: Submission) -> None:
    meta = s.meta
    text = s.required(ANSWER, "an answer")
    await deps.engine.answer(
        s.tenant,
        meta["run_id"],
        meta["step_id"],
        meta["question_id"],
        s.user,
        text,
        channel="slack",
    )


async def start(deps: Deps, s: Submission) -> Then:
    # Read and check the values with the version the form was built from; the run starts on
    # the latest version, which checks them again.
    stored = await deps.engine.get_definition(s.tenant, s.meta["workflow"], s.meta.get("version"))
    values = read(stored.definition.inputs, s.values())
    validate_values(stored.definition.inputs, values)
    # One run per modal, however often Slack delivers the submission.
    key = f"slack-view:{s.view['id']}"
    return Then(
        lambda: deps.engine.start_run(s.tenant, stored.name, values, s.user, idempotency_key=key),
        f"start {stored.name} by {s.user}",
    )


async def _step_of(
    deps: Deps, s: Submission, kind: type[StepT], what: str
) -> tuple[RunState, StepT]:
    """The run, and the step of type `kind` (`what` in the error), the modal was opened for."""
    run = await deps.engine.get_run(s.tenant, s.meta["run_id"])
    step = (await deps.engine.run_definition(run)).step(s.meta["step_id"])
    if not isinstance(step, kind):
        raise EngineError(f"step {step.id} is not {what} step")
    return run, step


async def decide(deps: Deps, s: Submission) -> Then:
    run, step = await _step_of(deps, s, ApprovalStep, "an approval")
    fields = read(step.fields, s.values())
    actor = slack_actor(s.body, s.tenant)
    decision = s.meta["decision"]
    validate_values(step.fields, fields, decision=decision)
    return Then(
        lambda: deps.engine.decide(
            s.tenant, run.run_id, step.id, actor, decision, fields, channel="slack"
        ),
        f"{decision} by {s.user}",
    )


# The card closes like it does for a form filled in anywhere: the engine's update of the
# step redraws it.
async def submit(deps: Deps, s: Submission) -> Then:
    run, step = await _step_of(deps, s, InputStep, "an input")
    values = read(step.fields, s.values())
    actor = slack_actor(s.body, s.tenant)
    validate_values(step.fields, values)
    return Then(
        lambda: deps.engine.submit_input(
            s.tenant, run.run_id, step.id, actor, values, channel="slack"
        ),
        f"form submitted by {s.user}",
    )


async def define(deps: Deps, s: Submission) -> View:
    state = s.values().get(ids.DEFINE_BLOCK, {}).get(ids.DEFINE_ACTION, {})
    text = str(state.get("value") or "")
    try:
        applied = await deps.engine.apply_definition(s.tenant, text, actor=deps.actor(s.user))
    except DefinitionError as e:
        raise InvalidInput({ids.DEFINE_BLOCK: _issues(e)}) from e
    done = (
        f"Version {applied.version} of *{applied.name}* was created."
        if applied.created
        else f"*{applied.name}* is unchanged (still version {applied.version})."
    )
    return _notice("Workflow saved", done)


# What each modal's submission does, by callback id.
SUBMISSIONS: dict[str, Work] = {
    ids.DELEGATE_VIEW: delegate,
    ids.REASSIGN_VIEW: reassign,
    ids.ASK_VIEW: ask,
    ids.ANSWER_VIEW: answer,
    ids.START_VIEW: start,
    ids.DECIDE_VIEW: decide,
    ids.INPUT_VIEW: submit,
    ids.DEFINE_VIEW: define,
}


def register(app: AsyncApp, deps: Deps) -> None:
    for callback_id, work in SUBMISSIONS.items():
        app.view(callback_id)(bind(modal_submitted, deps, work, name=work.__name__))
