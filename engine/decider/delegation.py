"""Handing a waiting approval or input step on: an approver delegates their part, an admin
reassigns it, or a request for someone out of office goes to their delegate. Every move is a
`StepDelegated` event, so the chain stays in the audit trail and every card can say for whom
its approver acts."""

from __future__ import annotations

from typing import Literal

from engine import events as ev
from engine import principal
from engine.decider import deadlines, keys, rights
from engine.decider.context import Builder
from engine.definitions.models import ApprovalStep, InputStep
from engine.errors import InvalidInput, NotAllowed
from engine.triggers import Delegate
from engine.working_time import WEEKDAYS

HumanStep = ApprovalStep | InputStep


def _may_act(b: Builder, step: HumanStep, principal: str) -> bool:
    """Whether `principal` may take a part of the step (the requester may not approve their
    own request unless the step allows it)."""
    if isinstance(step, ApprovalStep) and not step.allow_self_approval:
        return principal != b.state.requester
    return True


def substitute_away(b: Builder, step: HumanStep) -> None:
    """Right after people were asked: hand the part of anyone out of office to their delegate
    (unless the delegate is already asked, or may not act on this step)."""
    state = b.step(step.id)
    away = {a.user: a for a in b.env.aways if a.covers(b.now)}
    if not away:
        return
    for who in list(state.approvers):
        record = away.get(who)
        if record is None or record.delegate in b.step(step.id).approvers:
            continue
        if not _may_act(b, step, record.delegate):
            continue
        day = record.until.astimezone(b.env.hours.zone(None))
        until = f"{WEEKDAYS[day.weekday()].title()} {day:%Y-%m-%d %H:%M}"
        move(
            b,
            step,
            who,
            record.delegate,
            by="system",
            kind="away",
            reason=f"{who} is away until {until}",
            channel="system",
        )


def move(
    b: Builder,
    step: HumanStep,
    from_: str,
    to: str,
    *,
    by: str,
    kind: Literal["delegate", "reassign", "away"],
    reason: str,
    channel: ev.Channel,
) -> None:
    """Record the move and reschedule reminders: `from_` is no longer reminded, `to` is, from
    now on (the timeout stays where it was)."""
    state = b.step(step.id)
    level = state.escalation_level
    zones = deadlines.zones_for(b, step, level, [to])
    due = dict(state.reminders_due)
    due.pop(from_, None)
    first = deadlines.first_reminder(b, step, deadlines.zone_of(b, state, zones, to), b.now)
    if first is not None and step.level_channel(level) is None:
        due[to] = first
    b.emit(
        ev.StepDelegated(
            at=b.now,
            step_id=step.id,
            from_=from_,
            to=to,
            by=by,
            kind=kind,
            reason=reason,
            channel=channel,
            time_zones=zones,
            deadlines=deadlines.current(state, due),
        )
    )


def check_reassign(trigger: Delegate) -> None:
    """A reassignment is an admin's: refused (`not_admin`) before anything about the step."""
    if trigger.reassign:
        rights.require_admin(trigger.admin, rights.REASSIGN)


def check(b: Builder, step: HumanStep, trigger: Delegate) -> tuple[str, str]:
    """(whose part moves, to whom) if the delegation or reassignment may be done; else the
    refusal (checked by the caller to be on a waiting step). `trigger.to` may be empty when a
    channel asks before it shows the form: who it goes to is then not judged."""
    state = b.step(step.id)
    voted = {v.actor for v in state.votes}
    if trigger.reassign:
        check_reassign(trigger)
        pending = [p for p in state.approvers if p not in voted]
        from_ = trigger.from_
        if from_ is None:
            if not trigger.to:
                return "", ""  # asked before the form: the admin names whose part
            if len(pending) != 1:
                raise InvalidInput(
                    {"from": f"the step waits on {', '.join(pending)}: say whose part moves"}
                )
            from_ = pending[0]
        if from_ not in state.approvers:
            raise NotAllowed(f"{from_} is not asked on step {step.id}", code="not_approver")
    else:
        from_ = trigger.actor
        if trigger.from_ not in (None, trigger.actor):
            raise NotAllowed("only an admin can hand on someone else's part", code="not_admin")
        if from_ not in state.approvers:
            role = "an approver" if isinstance(step, ApprovalStep) else "the assignee"
            code = "not_approver" if isinstance(step, ApprovalStep) else "not_assignee"
            raise NotAllowed(f"you are not {role} of this step", code=code, step=step.id)
    if from_ in voted:
        raise NotAllowed(
            f"{from_} has already decided on this step", code="already_voted", step=step.id
        )
    if not trigger.to:
        return from_, ""
    found = principal.find(trigger.to)
    if found is None or not found.is_person:
        raise InvalidInput({"to": f"{trigger.to!r} is not {principal.expected(principal.PEOPLE)}"})
    to = found.id
    away = trigger.to_away
    if away is not None and away.user == to and away.covers(b.now):
        raise NotAllowed(
            f"{to} is away until {away.until:%Y-%m-%d %H:%M} UTC; "
            f"{away.delegate} stands in for them",
            code="away",
            to=to,
            until=away.until,
            stand_in=away.delegate,
        )
    if to == from_:
        raise InvalidInput({"to": "choose someone else than the person it is with now"})
    if to in state.approvers:
        raise NotAllowed(f"{to} is already asked on this step")
    if not _may_act(b, step, to):
        raise NotAllowed("the requester cannot approve their own request", code="own_request")
    return from_, to


def delegate(b: Builder, step: HumanStep, trigger: Delegate) -> None:
    """A person hands on their part, or an admin reassigns someone's (checked by the caller to be
    on a waiting step)."""
    if not trigger.to:
        raise InvalidInput({"to": "name the person to hand it to"})
    from_, to = check(b, step, trigger)
    kind: Literal["delegate", "reassign"] = "reassign" if trigger.reassign else "delegate"
    move(
        b,
        step,
        from_,
        to,
        by=trigger.actor,
        kind=kind,
        reason=trigger.reason,
        channel=trigger.channel,
    )
    run, now_state = b.state, b.step(step.id)
    counter = f"{now_state.escalation_level}.{len(now_state.delegations)}"
    b.request(
        step.id, to, "delegated", keys.request_key(run.run_id, step.id, "delegated", counter, to)
    )
    b.update_approval(step.id)  # the earlier card says who it went to
    deadlines.arm(b, step.id, timeout=False)
