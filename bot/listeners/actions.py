"""Buttons: Approve / Reject, open an input form, start from the list, App Home paging, and
Delegate / Ask for info on a card (Answer on the requester's question message).

A click that changes nothing (a second click, a card whose step has closed, someone who is not
an approver) is harmless: the clicker is told why, in a message only they see, and a stale card
is redrawn as it is now.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import ids
from bot.blocks.modals import (
    answer_modal,
    ask_modal,
    decision_modal,
    delegate_modal,
    input_modal,
    reassign_modal,
    start_modal,
)
from bot.channel import SlackChannel
from bot.deps import Deps, slack_actor, tell, tenant_of
from bot.listeners import bind
from bot.refusals import answer_text, handoff_text, reassign_text, refusal_text
from engine import (
    ApprovalStep,
    Decision,
    EngineError,
    InputStep,
    RunState,
    step_title,
)


@dataclass
class Click:
    deps: Deps
    body: dict[str, Any]
    client: AsyncWebClient  # Bolt's client for the workspace the click came from
    tenant: str

    @property
    def user(self) -> str:
        return str(self.body["user"]["id"])

    @property
    def value(self) -> str:
        return str(self.body["actions"][0]["value"])

    async def tell(self, text: str) -> None:
        await tell(self.client, self.body, text)

    async def open(self, view: Any) -> None:
        await self.client.views_open(trigger_id=self.body["trigger_id"], view=view)


async def _decide(c: Click, decision: Decision) -> None:
    """The engine judges the click; a step with fields asks it first, then opens the form."""
    ref = ids.StepRef.parse(c.value)
    engine = c.deps.engine
    try:
        if ref.form is not False and await _opened_form(c, ref, decision):
            return
        actor = slack_actor(c.body, c.tenant)
        await engine.decide(c.tenant, ref.run_id, ref.step_id, actor, decision, channel="slack")
    except EngineError as refused:
        await c.tell(refusal_text(refused))
        if refused.code in ("closed", "not_waiting"):
            # The stale card is redrawn by the one path that draws every card of the step.
            await c.deps.channel.refresh_cards(c.tenant, ref.run_id, ref.step_id, stale=True)


async def _opened_form(c: Click, ref: ids.StepRef, decision: Decision) -> bool:
    """Open the decision form when the step has fields (a button that says it has none is
    decided without reading the run); raises the engine's refusal before showing it."""
    engine = c.deps.engine
    run = await engine.get_run(c.tenant, ref.run_id)
    definition = await engine.run_definition(run)
    step_def = definition.step(ref.step_id)
    if not (isinstance(step_def, ApprovalStep) and step_def.fields):
        return False
    await engine.may_decide(c.tenant, run.run_id, ref.step_id, c.user, decision, "slack")
    title = step_title(definition, run, ref.step_id)
    await c.open(decision_modal(step_def, run.run_id, decision, title))
    return True


async def _open_input(c: Click) -> None:
    ref = ids.StepRef.parse(c.value)
    try:
        run = await c.deps.engine.may_submit(c.tenant, ref.run_id, ref.step_id, c.user, "slack")
    except EngineError as refused:
        if refused.code in ("closed", "not_waiting"):
            await c.tell("This form was already submitted or closed; nothing to do.")
        else:
            await c.tell(refusal_text(refused))
        return
    definition = await c.deps.engine.run_definition(run)
    step_def = definition.step(ref.step_id)
    if not isinstance(step_def, InputStep):
        raise EngineError(f"step {ref.step_id} is not an input step")
    message = SlackChannel.message(run, definition, ref.step_id)
    title = step_title(definition, run, ref.step_id)
    await c.open(input_modal(step_def, run.run_id, message, title))


async def _waiting_on_clicker(
    c: Click, ref: ids.StepRef, may: Callable[..., Awaitable[RunState]]
) -> tuple[RunState, str] | None:
    """The run and the step's title when the engine (`may`: may_delegate or may_ask) lets
    the clicker act on the step; else tells them why not and returns None."""
    try:
        run = await may(c.tenant, ref.run_id, ref.step_id, c.user, "slack")
    except EngineError as refused:
        await c.tell(handoff_text(refused))
        return None
    return run, step_title(await c.deps.engine.run_definition(run), run, ref.step_id)


async def _open_delegate(c: Click) -> None:
    ref = ids.StepRef.parse(c.value)
    found = await _waiting_on_clicker(c, ref, c.deps.engine.may_delegate)
    if found:
        await c.open(delegate_modal(ref.run_id, ref.step_id, found[1]))


async def _open_ask(c: Click) -> None:
    ref = ids.StepRef.parse(c.value)
    found = await _waiting_on_clicker(c, ref, c.deps.engine.may_ask)
    if found:
        run, title = found
        await c.open(ask_modal(ref.run_id, ref.step_id, title, run.requester))


async def _open_answer(c: Click) -> None:
    ref = ids.QuestionRef.parse(c.value)
    try:
        run = await c.deps.engine.may_answer(
            c.tenant, ref.run_id, ref.step_id, ref.question_id, c.user, "slack"
        )
    except EngineError as refused:
        await c.tell(answer_text(refused))
        return
    question = next(q for q in run.steps[ref.step_id].questions if q.id == ref.question_id)
    await c.open(answer_modal(ref.run_id, ref.step_id, ref.question_id, question.by, question.text))


async def _open_reassign(c: Click) -> None:
    ref = ids.StepRef.parse(c.value)
    try:
        run = await c.deps.engine.may_reassign(
            c.tenant, ref.run_id, ref.step_id, c.deps.actor(c.user)
        )
    except EngineError as refused:
        await c.tell(reassign_text(refused))
        return
    step = run.steps[ref.step_id]
    title = step_title(await c.deps.engine.run_definition(run), run, ref.step_id)
    voted = {v.actor for v in step.votes}
    waiting_on = [p for p in step.approvers if p not in voted]
    await c.open(reassign_modal(ref.run_id, ref.step_id, title, waiting_on))


async def _open_start(c: Click) -> None:
    stored = await c.deps.engine.get_definition(c.tenant, c.value)
    await c.open(start_modal(stored.definition, stored.version))


Work = Callable[[Click], Awaitable[None]]


async def _approve(c: Click) -> None:
    await _decide(c, "approve")


async def _reject(c: Click) -> None:
    await _decide(c, "reject")


# The buttons that act on a card or a Home row, by action id.
BUTTONS: dict[str, Work] = {
    ids.APPROVE: _approve,
    ids.REJECT: _reject,
    ids.OPEN_INPUT: _open_input,
    ids.OPEN_START: _open_start,
    ids.DELEGATE: _open_delegate,
    ids.ASK: _open_ask,
    ids.ANSWER: _open_answer,
}


async def button_clicked(
    deps: Deps,
    work: Work,
    label: str,
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """A button: ack at once, then do its `work` in the background (refusals are told to the
    clicker by `_guarded`)."""
    await ack()
    click = Click(deps, body, client, tenant_of(context))
    deps.background.spawn(_guarded(click, work), f"{label} by {click.user}")


async def home_page(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
) -> None:
    """The Home tab's paging buttons: draw the page asked for."""
    await ack()
    deps.home.opened(tenant_of(context), body["user"]["id"], int(body["actions"][0]["value"]))


def register(app: AsyncApp, deps: Deps) -> None:
    for action_id, work in BUTTONS.items():
        app.action(action_id)(bind(button_clicked, deps, work, action_id))
    # One reassign button per waiting step in a run's status: REASSIGN_<step id>.
    reassign = re.compile("^" + re.escape(ids.REASSIGN) + "_")
    app.action(reassign)(bind(button_clicked, deps, _open_reassign, "reassign"))
    app.action(re.compile("^" + re.escape(ids.HOME_PAGE)))(bind(home_page, deps))


async def _guarded(c: Click, work: Work) -> None:
    """Engine refusals are told to the clicker; anything else propagates to the log."""
    try:
        await work(c)
    except EngineError as refused:
        await c.tell(refusal_text(refused))
