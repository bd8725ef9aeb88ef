"""Modal submissions: start a run, fill in an input step, decide with fields, define a workflow,
delegate a request, ask the requester a question, answer one.

These are the only listeners that call the engine before acking: the ack carries the validation
errors (`response_action: errors`) shown on the fields, so it has to know them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.models.views import View

from bot.blocks import ids
from bot.blocks.forms import ACTION, read
from bot.blocks.limits import read_metadata, section, truncate
from bot.blocks.modals import ANSWER, DELEGATE_TO, QUESTION, REASON, REASSIGN_FROM
from bot.deps import Deps, sentence, tenant_of
from engine.definitions.models import ApprovalStep, InputStep
from engine.errors import DefinitionError, EngineError, InvalidInput, NotAllowed

ERROR_TEXT = 2000


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
) -> bool:
    """Do the submission's work, then ack: plainly (the modal closes), with the view `work`
    returns, or with the engine's complaint on the fields. True when the work was done."""
    try:
        shown = await work()
    except EngineError as e:
        await _reject(ack, view, e)
        return False
    except Exception:
        failed = "Countersign could not do this; the error is in its log."
        await ack(response_action="update", view=_notice("Something went wrong", failed))
        raise
    if shown is None:
        await ack()
    else:
        await ack(response_action="update", view=shown)
    return True


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


def register(app: AsyncApp, deps: Deps) -> None:
    engine = deps.engine

    @app.view(ids.DELEGATE_VIEW)
    async def delegate(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> None:
            meta = read_metadata(view.get("private_metadata", ""))
            to = _required(view, DELEGATE_TO, "who to delegate to")
            try:
                await engine.delegate(
                    tenant,
                    meta["r"],
                    meta["s"],
                    user,
                    to,
                    reason=_value(view, REASON),
                    channel="slack",
                )
            except NotAllowed as e:  # e.g. `to` is the requester (InvalidInput names its field)
                raise InvalidInput({DELEGATE_TO: sentence(e.message)}) from e

        await _answer(ack, view, work)

    @app.view(ids.REASSIGN_VIEW)
    async def reassign(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> None:
            if not deps.is_admin(user):
                raise NotAllowed("only Countersign admins can reassign requests")
            meta = read_metadata(view.get("private_metadata", ""))
            from_ = _required(view, REASSIGN_FROM, "whose part moves")
            to = _required(view, DELEGATE_TO, "who gets it")
            try:
                await engine.delegate(
                    tenant,
                    meta["r"],
                    meta["s"],
                    user,
                    to,
                    from_=from_,
                    reason=_value(view, REASON) or "reassigned by an admin",
                    channel="slack",
                    admin=True,
                )
            except NotAllowed as e:  # "UBOB is not asked on …", "UCAT is already asked …"
                where = REASSIGN_FROM if e.message.startswith(from_) else DELEGATE_TO
                raise InvalidInput({where: sentence(e.message)}) from e

        await _answer(ack, view, work)

    @app.view(ids.ASK_VIEW)
    async def ask(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> None:
            meta = read_metadata(view.get("private_metadata", ""))
            question = _required(view, QUESTION, "a question")
            await engine.ask(tenant, meta["r"], meta["s"], user, question, channel="slack")

        await _answer(ack, view, work)

    @app.view(ids.ANSWER_VIEW)
    async def answer(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> None:
            meta = read_metadata(view.get("private_metadata", ""))
            text = _required(view, ANSWER, "an answer")
            await engine.answer(
                tenant, meta["r"], meta["s"], meta["q"], user, text, channel="slack"
            )

        await _answer(ack, view, work)

    @app.view(ids.START_VIEW)
    async def start(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> None:
            meta = read_metadata(view.get("private_metadata", ""))
            # Read the values with the version the form was built from; the run starts on the
            # latest version, which checks them again.
            stored = await engine.get_definition(tenant, meta["w"], meta.get("v"))
            values = read(stored.definition.inputs, view["state"]["values"])
            # One run per modal, however often Slack delivers the submission.
            key = f"slack-view:{view['id']}"
            await engine.start_run(tenant, stored.name, values, user, idempotency_key=key)

        await _answer(ack, view, work)

    @app.view(ids.DECIDE_VIEW)
    async def decide(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> None:
            meta = read_metadata(view.get("private_metadata", ""))
            run = await engine.get_run(tenant, meta["r"])
            stored = await engine.get_definition(tenant, run.workflow, run.version)
            step = stored.definition.step(meta["s"])
            if not isinstance(step, ApprovalStep):
                raise EngineError(f"step {step.id} is not an approval step")
            fields = read(step.fields, view["state"]["values"])
            await engine.decide(
                tenant, run.run_id, step.id, user, meta["d"], fields, channel="slack"
            )

        await _answer(ack, view, work)

    @app.view(ids.INPUT_VIEW)
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]
        meta = read_metadata(view.get("private_metadata", ""))

        async def work() -> None:
            run = await engine.get_run(tenant, meta["r"])
            stored = await engine.get_definition(tenant, run.workflow, run.version)
            step = stored.definition.step(meta["s"])
            if not isinstance(step, InputStep):
                raise EngineError(f"step {step.id} is not an input step")
            values = read(step.fields, view["state"]["values"])
            await engine.submit_input(tenant, run.run_id, step.id, user, values, channel="slack")

        if await _answer(ack, view, work):
            deps.background.spawn(
                deps.channel.refresh_cards(tenant, meta["r"], meta["s"]), "close the input card"
            )

    @app.view(ids.DEFINE_VIEW)
    async def define(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]

        async def work() -> View:
            if not deps.is_admin(user):
                raise NotAllowed("only Countersign admins can define workflows")
            state = view["state"]["values"].get(ids.DEFINE_BLOCK, {}).get(ids.DEFINE_ACTION, {})
            try:
                applied = await engine.apply_definition(tenant, str(state.get("value") or ""))
            except DefinitionError as e:
                raise InvalidInput({ids.DEFINE_BLOCK: _issues(e)}) from e
            done = (
                f"Version {applied.version} of *{applied.name}* was created."
                if applied.created
                else f"*{applied.name}* is unchanged (still version {applied.version})."
            )
            return _notice("Workflow saved", done)

        await _answer(ack, view, work)
