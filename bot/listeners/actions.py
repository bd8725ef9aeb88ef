"""Buttons: Approve / Reject, open an input form, start from the list, App Home paging.

A click that changes nothing (a second click, a card whose step has closed, someone who is not
an approver) is harmless: the clicker is told why, in a message only they see, and a stale card
is redrawn as it is now.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bot.blocks import ids
from bot.blocks.approval_card import approval_card
from bot.blocks.modals import decision_modal, input_modal, start_modal
from bot.channel import SlackChannel
from bot.deps import Deps, sentence, tenant_of
from engine.definitions.models import ApprovalStep, InputStep
from engine.errors import EngineError, NotAllowed, RunFinished, StepNotPending
from engine.events import Decision
from engine.state import RunState

VERB = {"approve": "approved", "reject": "rejected"}


async def _redraw(deps: Deps, body: dict[str, Any], run: RunState, step_id: str) -> None:
    """Show the card the click came from as the step is now (buttons gone if it closed)."""
    container = body.get("container") or {}
    if container.get("type") != "message" or run.steps[step_id].type != "approval":
        return
    stored = await deps.engine.get_definition(run.tenant_id, run.workflow, run.version)
    text, blocks = approval_card(run, stored.definition, step_id, body["user"]["id"])
    await deps.client.chat_update(
        channel=container["channel_id"], ts=container["message_ts"], text=text, blocks=blocks
    )


async def _decide(deps: Deps, body: dict[str, Any], tenant: str, decision: Decision) -> None:
    user = body["user"]["id"]
    ref = ids.StepRef.parse(body["actions"][0]["value"])
    run = await deps.engine.get_run(tenant, ref.run_id)
    step = run.steps.get(ref.step_id)
    if step is None:
        raise EngineError(f"run {ref.run_id} has no step {ref.step_id}")
    mine = next((v for v in step.votes if v.actor == user), None)
    if mine is not None:
        await deps.tell(body, f"You already {VERB[mine.decision]} this; nothing changed.")
        return
    if step.status != "waiting":
        await deps.tell(
            body,
            f"This request is closed ({step.outcome or step.status}); your click changed nothing.",
        )
        await _redraw(deps, body, run, ref.step_id)
        return
    if user not in step.approvers and user == run.requester:
        await deps.tell(body, "You cannot decide on your own request. Nothing changed.")
        return
    if user not in step.approvers:
        await deps.tell(
            body,
            "You are not one of the approvers of this step, so you cannot "
            "decide it. Nothing changed.",
        )
        return
    stored = await deps.engine.get_definition(tenant, run.workflow, run.version)
    step_def = stored.definition.step(ref.step_id)
    if isinstance(step_def, ApprovalStep) and step_def.fields:
        await deps.client.views_open(
            trigger_id=body["trigger_id"], view=decision_modal(step_def, run.run_id, decision)
        )
        return
    try:
        await deps.engine.decide(
            tenant,
            run.run_id,
            ref.step_id,
            user,
            decision,
            channel="slack",
        )
    except NotAllowed as e:
        await deps.tell(body, f"{sentence(e.message)} Nothing changed.")
    except (StepNotPending, RunFinished) as e:
        await deps.tell(body, f"{sentence(e.message)} Your click changed nothing.")


async def _open_input(deps: Deps, body: dict[str, Any], tenant: str) -> None:
    user = body["user"]["id"]
    ref = ids.StepRef.parse(body["actions"][0]["value"])
    run = await deps.engine.get_run(tenant, ref.run_id)
    step = run.steps[ref.step_id]
    if step.status != "waiting":
        await deps.tell(body, "This form was already submitted or closed; nothing to do.")
        return
    if user not in step.approvers:
        await deps.tell(body, "This form is assigned to someone else.")
        return
    stored = await deps.engine.get_definition(tenant, run.workflow, run.version)
    step_def = stored.definition.step(ref.step_id)
    if not isinstance(step_def, InputStep):
        raise EngineError(f"step {ref.step_id} is not an input step")
    message = SlackChannel.message(run, stored.definition, ref.step_id)
    await deps.client.views_open(
        trigger_id=body["trigger_id"], view=input_modal(step_def, run.run_id, message)
    )


async def _open_start(deps: Deps, body: dict[str, Any], tenant: str) -> None:
    stored = await deps.engine.get_definition(tenant, body["actions"][0]["value"])
    await deps.client.views_open(
        trigger_id=body["trigger_id"], view=start_modal(stored.definition, stored.version)
    )


async def _guarded(deps: Deps, body: dict[str, Any], work: Any) -> None:
    try:
        await work
    except EngineError as e:
        await deps.tell(body, sentence(e.message))


def register(app: AsyncApp, deps: Deps) -> None:
    async def later(body: dict[str, Any], work: Any, what: str) -> None:
        deps.background.spawn(_guarded(deps, body, work), what)

    @app.action(ids.APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        await later(body, _decide(deps, body, tenant_of(context), "approve"), "approve")

    @app.action(ids.REJECT)
    async def reject(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        await later(body, _decide(deps, body, tenant_of(context), "reject"), "reject")

    @app.action(ids.OPEN_INPUT)
    async def open_input(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        await later(body, _open_input(deps, body, tenant_of(context)), "open input form")

    @app.action(ids.OPEN_START)
    async def open_start(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        await later(body, _open_start(deps, body, tenant_of(context)), "open start form")

    @app.action(re.compile("^" + re.escape(ids.HOME_PAGE)))
    async def home_page(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        deps.home.opened(tenant_of(context), body["user"]["id"], int(body["actions"][0]["value"]))
