"""`Permissions`: the read-only "may this actor ... now?" questions a channel asks before it shows
a form, and `decide_trigger`, which `Engine.decide` shares with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast, get_args

from engine import principal as principals
from engine.actor import Actor, identify
from engine.decider import rights
from engine.decider.decide import Askable, refusal
from engine.errors import InvalidInput
from engine.events import Decision
from engine.ports import RunStore
from engine.runtime.applier import RunApplier
from engine.runtime.environment import Environment
from engine.runtime.human_tasks import HumanTasks
from engine.state import RunState
from engine.triggers import Answer, Ask, Cancel, Decide, SubmitInput

DECISIONS = get_args(Decision)


def decide_trigger(
    step_id: str,
    actor: str | Actor,
    decision: str,
    fields: Mapping[str, Any] | None,
    channel: str,
    override: bool,
    reason: str,
    admin: bool,
) -> Decide:
    """The trigger of a decision; `may_decide` builds the same one so it is judged alike."""
    if decision not in DECISIONS:
        raise InvalidInput({"decision": f"{decision!r} is not approve or reject"})
    who, via, admin = identify(actor, channel, admin)
    return Decide(
        step_id=step_id,
        actor=who,
        decision=cast(Decision, decision),
        fields=dict(fields or {}),
        channel=via,
        override=override,
        reason=reason.strip()[:500] if override else "",
        admin=admin,
    )


class Permissions:
    """Each question builds the trigger the action would and has the decider judge it without
    recording anything, so the answer is the decider's (one rule per fact): the run, or the
    refusal the action would raise."""

    def __init__(self, applier: RunApplier, runs: RunStore, environment: Environment) -> None:
        self._applier = applier
        self.runs = runs
        self.environment = environment

    def may_define(self, actor: Actor) -> None:
        """Refuse (`not_admin`) `actor` who may not define workflows."""
        rights.require_admin(actor.admin, rights.DEFINE)

    def may_change_away(self, actor: Actor, user: str, *, ending: bool = False) -> None:
        """Refuse (`not_admin`) `actor` who may not set (`ending`: end) `user`'s
        out-of-office: anyone their own, an admin anyone's."""
        who = principals.canonical(actor.who)
        rights.check_away(who, actor.admin, principals.canonical(user), ending=ending)

    async def may_decide(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        decision: str = "approve",
        channel: str = "api",
    ) -> RunState:
        trigger = decide_trigger(step_id, actor, decision, None, channel, False, "", False)
        return await self._refusal(tenant_id, run_id, trigger)

    async def may_submit(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        who, via, _ = identify(actor, channel, False)
        trigger = SubmitInput(step_id=step_id, actor=who, values={}, channel=via)
        return await self._refusal(tenant_id, run_id, trigger)

    async def may_delegate(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        trigger = HumanTasks.delegate_trigger(step_id, actor, "", channel, False, False, None)
        return await self._refusal(tenant_id, run_id, trigger)

    async def may_reassign(
        self, tenant_id: str, run_id: str, step_id: str, actor: Actor
    ) -> RunState:
        trigger = HumanTasks.delegate_trigger(step_id, actor, "", "api", False, True, None)
        return await self._refusal(tenant_id, run_id, trigger)

    async def may_ask(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        who, via, _ = identify(actor, channel, False)
        trigger = Ask(step_id=step_id, actor=who, text="", channel=via)
        return await self._refusal(tenant_id, run_id, trigger)

    async def may_answer(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        question_id: str,
        actor: str | Actor,
        channel: str = "api",
    ) -> RunState:
        who, via, _ = identify(actor, channel, False)
        trigger = Answer(step_id=step_id, question_id=question_id, actor=who, text="", channel=via)
        return await self._refusal(tenant_id, run_id, trigger)

    async def may_cancel(
        self, tenant_id: str, run_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        who, via, admin = identify(actor, channel, False)
        trigger = Cancel(actor=who, channel=via, admin=admin)
        return await self._refusal(tenant_id, run_id, trigger)

    async def _refusal(self, tenant_id: str, run_id: str, trigger: Askable) -> RunState:
        state = await self.runs.load(tenant_id, run_id)
        definition = await self._applier.definition(tenant_id, state.workflow, state.version)
        env = await self.environment.get(tenant_id, strict=False)
        refusal(definition, state, trigger, self._applier.clock.now(), env)
        return state
