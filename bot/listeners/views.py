"""Modal submissions: start a run, fill in an input step, decide with fields, define a workflow.

These are the only listeners that call the engine before acking: the ack carries the validation
errors (`response_action: errors`) shown on the fields, so it has to know them.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.models.views import View

from bot.blocks import ids
from bot.blocks.forms import read
from bot.blocks.limits import read_metadata, section, truncate
from bot.deps import Deps, sentence, tenant_of
from engine.definitions.models import ApprovalStep, InputStep
from engine.errors import DefinitionError, EngineError, InvalidInput

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


def register(app: AsyncApp, deps: Deps) -> None:
    engine = deps.engine

    @app.view(ids.START_VIEW)
    async def start(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]
        meta = read_metadata(view.get("private_metadata", ""))
        stored = await engine.get_definition(tenant, meta["w"])
        values = read(stored.definition.inputs, view["state"]["values"])
        try:
            # One run per modal, however often Slack delivers the submission.
            await engine.start_run(
                tenant, stored.name, values, user, idempotency_key=f"slack-view:{view['id']}"
            )
        except EngineError as e:
            await _reject(ack, view, e)
            return
        await ack()

    @app.view(ids.DECIDE_VIEW)
    async def decide(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]
        meta = read_metadata(view.get("private_metadata", ""))
        run = await engine.get_run(tenant, meta["r"])
        stored = await engine.get_definition(tenant, run.workflow, run.version)
        step = stored.definition.step(meta["s"])
        if not isinstance(step, ApprovalStep):
            raise EngineError(f"step {step.id} is not an approval step")
        fields = read(step.fields, view["state"]["values"])
        try:
            await engine.decide(
                tenant, run.run_id, step.id, user, meta["d"], fields, channel="slack"
            )
        except EngineError as e:
            await _reject(ack, view, e)
            return
        await ack()

    @app.view(ids.INPUT_VIEW)
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]
        meta = read_metadata(view.get("private_metadata", ""))
        run = await engine.get_run(tenant, meta["r"])
        stored = await engine.get_definition(tenant, run.workflow, run.version)
        step = stored.definition.step(meta["s"])
        if not isinstance(step, InputStep):
            raise EngineError(f"step {step.id} is not an input step")
        values = read(step.fields, view["state"]["values"])
        try:
            await engine.submit_input(tenant, run.run_id, step.id, user, values, channel="slack")
        except EngineError as e:
            await _reject(ack, view, e)
            return
        await ack()
        deps.background.spawn(
            deps.channel.refresh_cards(tenant, run.run_id, step.id), "close the input card"
        )

    @app.view(ids.DEFINE_VIEW)
    async def define(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tenant, user = tenant_of(context), body["user"]["id"]
        if not deps.is_admin(user):
            await ack(
                response_action="errors",
                errors={ids.DEFINE_BLOCK: "Only Countersign admins can define workflows."},
            )
            return
        state = view["state"]["values"].get(ids.DEFINE_BLOCK, {}).get(ids.DEFINE_ACTION, {})
        text = str(state.get("value") or "")
        try:
            applied = await engine.apply_definition(tenant, text)
        except DefinitionError as e:
            lines = "\n".join(
                (f"line {i.line}: " if i.line else "") + f"{i.field or 'top level'}: {i.message}"
                for i in e.issues
            )
            await ack(
                response_action="errors", errors={ids.DEFINE_BLOCK: truncate(lines, ERROR_TEXT)}
            )
            return
        done = (
            f"Version {applied.version} of *{applied.name}* was created."
            if applied.created
            else f"*{applied.name}* is unchanged (still version {applied.version})."
        )
        await ack(response_action="update", view=_notice("Workflow saved", done))
