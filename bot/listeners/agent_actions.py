"""Agent approval requests in Slack: the card's Approve / Approve & allow / Reject open the agent
modal (editable arguments as JSON, the standing grant choice, the decision form); its
submission records the decision with the edited arguments and the grant's hours; and the App
Home's Revoke ends a standing grant.

The engine judges everything (who may decide, which arguments may change, how long a grant may
be); these listeners only parse. Edited arguments that are not JSON are answered in the modal's
ack, on the argument's own field.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.app.async_app import AsyncApp

from bot.blocks import ids
from bot.blocks.agent_card import ARG_BLOCK, agent_modal, read_edits, read_grant
from bot.blocks.forms import read
from bot.deps import Deps
from bot.listeners import bind
from bot.listeners.actions import Click, button_clicked
from bot.listeners.views import Submission, modal_submitted
from engine import (
    AGENT_FIELDS,
    ARGUMENTS_FIELD,
    GRANT_FIELD,
    ApprovalStep,
    EngineError,
    InvalidInput,
    RunState,
    agent_request,
    parse_edits,
)


async def _agent_step(deps: Deps, tenant: str, run_id: str, step_id: str) -> tuple[RunState, Any]:
    run = await deps.engine.get_run(tenant, run_id)
    definition = await deps.engine.run_definition(run)
    step = definition.step(step_id)
    if not isinstance(step, ApprovalStep) or agent_request(run) is None:
        raise EngineError(f"step {step_id} is not an agent's approval request")
    return run, step


def _opener(decision: str, grant: bool = False) -> Any:
    async def open_modal(c: Click) -> None:
        ref = ids.StepRef.parse(c.value)
        run, step = await _agent_step(c.deps, c.tenant, ref.run_id, ref.step_id)
        if run.steps[ref.step_id].status != "waiting":
            await c.tell("This request is already decided or closed; nothing to do.")
            await c.deps.channel.refresh_cards(c.tenant, ref.run_id, ref.step_id)
            return
        request = agent_request(run)
        assert request is not None
        title = str(run.inputs.get("title") or step.title or step.id)
        url = c.deps.channel.run_url(run.run_id)
        view = agent_modal(request, step, run.run_id, decision, title, grant=grant, run_url=url)
        await c.open(view)

    open_modal.__name__ = f"open_agent_{decision}{'_grant' if grant else ''}"
    return open_modal


async def decide(deps: Deps, s: Submission) -> None:
    """The agent modal submitted: edits checked per argument (JSON), then the engine decides."""
    run, step = await _agent_step(deps, s.tenant, s.meta["run_id"], s.meta["step_id"])
    request = agent_request(run)
    assert request is not None
    values = s.values()
    fields = read([f for f in step.fields if f.id not in AGENT_FIELDS], values)
    decision = str(s.meta["decision"])
    if decision == "approve":
        try:
            edited = parse_edits(request, read_edits(values))
        except InvalidInput as bad:
            raise InvalidInput({ARG_BLOCK + k: v for k, v in bad.errors.items()}) from bad
        if edited != request.arguments:
            fields[ARGUMENTS_FIELD] = json.dumps(edited, sort_keys=True, ensure_ascii=False)
        hours = read_grant(values)
        if hours:
            fields[GRANT_FIELD] = hours
    try:
        await deps.engine.decide(
            s.tenant, run.run_id, step.id, s.user, decision, fields, channel="slack"
        )
    except InvalidInput as bad:
        # The decider's word on the edit ("not editable: x") goes on the first argument.
        first = next((ARG_BLOCK + n for n in request.editable), None)
        moved = {(first if k == ARGUMENTS_FIELD and first else k): v for k, v in bad.errors.items()}
        raise InvalidInput(moved) from bad


async def revoke(c: Click) -> None:
    """App Home's Revoke on a standing grant (the engine lets its granter or an admin)."""
    grant = await c.deps.engine.revoke_grant(
        c.tenant, c.value, c.user, admin=c.deps.is_admin(c.user)
    )
    await c.tell(f"Revoked the standing grant for `{grant.tool}` ({grant.agent or 'agent'}).")
    c.deps.home.opened(c.tenant, c.user, 0)


BUTTONS = {
    ids.AGENT_APPROVE: _opener("approve"),
    ids.AGENT_GRANT: _opener("approve", grant=True),
    ids.AGENT_REJECT: _opener("reject"),
    ids.REVOKE_GRANT: revoke,
}


def register(app: AsyncApp, deps: Deps) -> None:
    for action_id, work in BUTTONS.items():
        app.action(action_id)(bind(button_clicked, deps, work, action_id))
    app.view(ids.AGENT_DECIDE_VIEW)(bind(modal_submitted, deps, decide, name="agent_decide"))
