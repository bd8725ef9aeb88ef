"""Approval steps: who is asked (approver specs, directory lookups), votes and policies,
timeouts with their actions, reminders and the escalation chain. When things are due (working
hours, time zones, pauses) is `deadlines`'s business; out-of-office substitutes are `delegation`'s.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from engine import commands as cmd
from engine import events as ev
from engine import forms, principal, templates
from engine.agent_requests import agent_request, check_edit
from engine.approvals import APPROVAL_WORKFLOW
from engine.decider import deadlines, delegation, keys, steps
from engine.decider.context import Builder
from engine.definitions.models import ApprovalStep, InputStep, NOf, Policy, level_specs
from engine.errors import NotAllowed, TemplateError
from engine.grants import grant_of
from engine.shown import shown_for
from engine.state import StepState
from engine.triggers import Decide

# Rendered specs may hold several principals: "U1, U2" or a rendered list "['U1', 'U2']".
_TOKEN = re.compile(r"[^\s,;\[\]'\"]+")

Outcome = Literal["approved", "rejected"]


def render_specs(specs: list[str], context: dict[str, Any]) -> list[str]:
    """Approver specs rendered into principals and lookups, in order, without duplicates.
    Raises ValueError (or TemplateError) saying which spec is not usable."""
    out: list[str] = []
    for spec in specs:
        text = templates.render(spec, context) if "{" in spec else spec
        tokens = _TOKEN.findall(text)
        if not tokens:
            raise ValueError(f"approver {spec!r} rendered to nothing")
        for token in tokens:
            found = principal.find(token)
            if found is None or found.kind not in principal.APPROVER_KINDS:
                expected = principal.expected(("user", "email", "group", "channel"))
                raise ValueError(f"approver {token!r} (from {spec!r}) is not {expected}")
            if found.id not in out:
                out.append(found.id)
    return out


def required_approvals(policy: Policy, approvers: int) -> int:
    if policy == "any":
        return 1
    if policy == "all":
        return approvers
    if policy == "majority":
        return approvers // 2 + 1
    assert isinstance(policy, NOf)
    return policy.n


def start(b: Builder, step: ApprovalStep) -> None:
    try:
        specs = render_specs(step.approvers, b.context())
    except (ValueError, TemplateError) as exc:
        steps.fail(b, step.id, str(exc))
        return
    ask(b, step, specs, level=0)


def ask(b: Builder, step: ApprovalStep, specs: list[str], level: int) -> None:
    """Ask the approvers of `level` (0 = the step's own); look them up first unless they are
    all Slack users. An email address is looked up however it is written (Slack may know the
    person), so "ana@x.io" and "email:ana@x.io" name the same approver."""
    if all(principal.is_kind(s, "user") for s in specs):
        grant(b, step, specs, level)
        return
    run = b.state
    b.emit(ev.ApproversResolving(at=b.now, step_id=step.id, specs=specs, escalation_level=level))
    b.command(
        cmd.ResolveApprovers(
            key=keys.resolve_key(run.run_id, step.id, level),
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_id=step.id,
            specs=specs,
        )
    )


def grant(b: Builder, step: ApprovalStep, approvers: list[str], level: int) -> None:
    """The approvers are known: record who is asked, send the requests, arm the timers."""
    approvers = list(dict.fromkeys(approvers))
    requester = b.state.requester
    if not step.allow_self_approval and requester in approvers:
        # Not asked at all, so policies like `all` stay reachable without them.
        approvers.remove(requester)
        if not approvers:
            steps.fail(b, step.id, "the requester is the only approver and cannot approve")
            return
    if not approvers:
        steps.fail(b, step.id, "no approvers were found for this step")
        return
    zones = deadlines.zones_for(b, step, level, approvers)
    due = deadlines.fresh(b, step, level, approvers, zones)
    if level == 0:
        required = required_approvals(step.policy, len(approvers))
        if required > len(approvers):
            steps.fail(
                b,
                step.id,
                f"the policy needs {required} approvals but only "
                f"{len(approvers)} approvers were found",
            )
            return
        b.emit(
            ev.ApprovalRequested(
                at=b.now,
                step_id=step.id,
                approvers=approvers,
                required=required,
                time_zones=zones,
                deadlines=deadlines.or_none(due),
            )
        )
    else:
        before = b.step(step.id)
        waited = step.level_timeout(level - 1)
        reason = f"no decision within {waited} from {', '.join(before.approvers)}"
        b.emit(
            ev.StepEscalated(
                at=b.now,
                step_id=step.id,
                level=level,
                approvers=approvers,
                reason=reason,
                time_zones=zones,
                deadlines=due,
            )
        )
        # The earlier approvers' cards say whom it moved on to: known only now (after a lookup).
        b.update_approval(step.id)
    delegation.substitute_away(b, step)
    send_requests(b, step, "request" if level == 0 else "escalated")
    deadlines.arm(b, step.id)


def send_requests(b: Builder, step: ApprovalStep, kind: Literal["request", "escalated"]) -> None:
    """The cards of a level just asked: one in its channel, or one per approver (marked
    "delegated" for someone acting for an approver who is away)."""
    run, state = b.state, b.step(step.id)
    level = state.escalation_level
    channel = step.level_channel(level)
    for target in [channel] if channel else state.approvers:
        this_kind: Literal["request", "escalated", "delegated"] = kind
        if channel is None and state.acting_for(target) is not None:
            this_kind = "delegated"
        b.request(
            step.id,
            target,
            this_kind,
            keys.request_key(run.run_id, step.id, kind, str(level), target),
        )


def resolved(b: Builder, step_id: str, approvers: list[str], error: str | None) -> None:
    """The directory answered the lookup of the step's pending level."""
    step = b.definition.step(step_id)
    assert isinstance(step, ApprovalStep)
    level = b.step(step_id).resolving_level or 0
    if error is not None:
        steps.fail(b, step_id, f"could not look up the approvers: {error}")
    else:
        grant(b, step, approvers, level)


def _past(decision: str) -> Outcome:
    return "approved" if decision == "approve" else "rejected"


def check_proxy(b: Builder, step: ApprovalStep, proxy: str) -> None:
    """Refuse a decision passed on by `proxy`, who asked for this approval through the
    approvals API (`engine.approvals`): an agent may not approve what it asked for, not even
    on an approver's behalf."""
    if b.definition.name == APPROVAL_WORKFLOW and proxy == b.state.requester:
        raise NotAllowed(
            "the API key that asked for an approval cannot decide it",
            code="own_request",
            step=step.id,
        )


def check_vote(b: Builder, step: ApprovalStep, trigger: Decide) -> None:
    """Refuse a vote its actor may not cast (the step is checked to be waiting by the caller).
    An override needs an admin and is cast whoever the actor is."""
    state = b.step(step.id)
    if trigger.override:
        if not trigger.admin:
            raise NotAllowed("only an admin can override a decision", code="not_admin")
        return
    earlier = [v for v in state.votes if v.actor == trigger.actor]
    if earlier:
        vote = earlier[-1]
        raise NotAllowed(
            f"you already {_past(vote.decision)} this step",
            code="already_voted",
            step=step.id,
            decision=vote.decision,
            at=vote.at,
        )
    own = trigger.actor == b.state.requester
    if own and (
        trigger.actor not in state.approvers
        or (trigger.decision == "approve" and not step.allow_self_approval)
    ):
        raise NotAllowed("you cannot approve your own request", code="own_request", step=step.id)
    if trigger.actor not in state.approvers:
        raise NotAllowed(
            "you are not an approver of this step",
            code="not_approver",
            step=step.id,
            approvers=list(state.approvers),
        )


def decide(b: Builder, step: ApprovalStep, trigger: Decide) -> None:
    """A vote (checked by the caller to be on a waiting step)."""
    state = b.step(step.id)
    check_vote(b, step, trigger)
    values = forms.validate_values(step.fields, trigger.fields, decision=trigger.decision)
    request = agent_request(b.state)
    if request is not None and trigger.decision == "approve":
        check_edit(request, values.get("arguments"))  # only the editable arguments may change
    reminder_before = state.next_reminder_at
    b.emit(
        ev.DecisionRecorded(
            at=b.now,
            step_id=step.id,
            actor=trigger.actor,
            decision=trigger.decision,
            fields=values,
            channel=trigger.channel,
            override=trigger.override,
            reason=trigger.reason if trigger.override else "",
            proof=trigger.proof,
            shown=shown_for(state, trigger.actor, trigger.channel),
        )
    )
    outcome = _past(trigger.decision) if trigger.override else _policy_outcome(step, state)
    if outcome is None:
        b.update_approval(step.id)  # cards show the progress, e.g. "1 of 2"
        if b.step(step.id).next_reminder_at != reminder_before:
            deadlines.arm(b, step.id, timeout=False)  # the voter is no longer reminded
        return
    _close(b, step.id, outcome)


def _counted(state: StepState) -> list[tuple[str, str, dict[str, Any]]]:
    """(actor, decision, fields) of the votes that count at the current level: the current
    approvers', overrides and the system's."""
    return [(v.actor, v.decision, v.fields) for v in state.votes if v.counts(state.approvers)]


def _policy_outcome(step: ApprovalStep, state: StepState) -> Outcome | None:
    votes = _counted(state)
    if not votes:
        return None
    if step.policy == "any" or state.escalation_level > 0:
        return "approved" if votes[-1][1] == "approve" else "rejected"
    approvals = sum(1 for v in votes if v[1] == "approve")
    rejections = len(votes) - approvals
    if approvals >= state.required:
        return "approved"
    if len(state.approvers) - rejections < state.required:
        return "rejected"  # the others can no longer reach the required count
    return None


def _close(b: Builder, step_id: str, outcome: Outcome, reason: str | None = None) -> None:
    wanted = "approve" if outcome == "approved" else "reject"
    by: list[str] = []
    fields: dict[str, Any] = {}
    for actor, decision, values in _counted(b.step(step_id)):
        if decision == wanted:
            by.append(actor)
            fields.update(values)
    output: dict[str, Any] = {"decision": outcome, "decided_by": by or ["system"], "fields": fields}
    if reason is not None:
        output["reason"] = reason
    steps.complete(b, step_id, outcome, output)
    if outcome == "approved":
        _record_grant(b, step_id)


def _record_grant(b: Builder, step_id: str) -> None:
    """An agent's request approved "and allow repeats" gives a standing grant: the command to
    store it is part of this decision, so it is committed with the approval (never one without
    the other). Until the dispatcher has stored it, a repeat request is judged by a person."""
    run = b.state
    grant = grant_of(run, run.tenant_id)
    if grant is not None:
        b.command(
            cmd.RecordGrant(
                key=keys.grant_key(run.run_id, step_id),
                tenant_id=run.tenant_id,
                run_id=run.run_id,
                step_id=step_id,
                grant=grant,
            )
        )


def timed_out(b: Builder, step: ApprovalStep) -> None:
    state = b.step(step.id)
    after = f"no decision within {step.level_timeout(state.escalation_level)}"
    action = step.on_timeout
    level = state.escalation_level + 1
    if action == "escalate" and level > len(step.escalate_to):
        action, after = "fail", f"{after} at the last escalation level"
    b.emit(ev.StepTimedOut(at=b.now, step_id=step.id, action=action))
    if action in ("approve", "reject"):
        # A declared default decision: recorded as the system's, with the reason.
        b.emit(
            ev.DecisionRecorded(
                at=b.now,
                step_id=step.id,
                actor="system",
                decision=action,
                channel="system",
                reason=after,
            )
        )
        _close(b, step.id, "approved" if action == "approve" else "rejected", reason=after)
    elif action == "fail":
        steps.fail(b, step.id, after)
    else:
        b.disarm(keys.reminder_timer(b.state.run_id, step.id, level - 1, state.reminders + 1))
        try:
            specs = render_specs(level_specs(step.escalate_to[level - 1]), b.context())
        except (ValueError, TemplateError) as exc:
            steps.fail(b, step.id, f"escalation level {level}: {exc}")
            return
        ask(b, step, specs, level)


def remind(b: Builder, step: ApprovalStep | InputStep, number: int) -> None:
    """Send reminder round `number` to whoever is due (each in their own working hours), and
    arm the next round."""
    state = b.step(step.id)
    run = b.state
    due = dict(state.reminders_due) or {
        t: b.now for t in deadlines.reminder_targets(step, state)
    }  # a run scheduled before reminders were per person
    targets = [who for who, when in due.items() if when <= b.now]
    if not targets:
        return
    every = step.remind_every
    for who in targets:
        sent = state.reminded.get(who, 0) + 1
        zone = deadlines.zone_of(b, state, {}, who)
        end = deadlines.deadline(state)
        when = b.env.hours.reminder_after(b.now, every, zone) if every is not None else None
        if when is not None and sent < step.max_reminders and (end is None or when < end):
            due[who] = when
        else:
            del due[who]
    b.emit(
        ev.ReminderSent(
            at=b.now,
            step_id=step.id,
            number=number,
            to=targets,
            deadlines=deadlines.current(state, due),
        )
    )
    counter = f"{state.escalation_level}.{number}"
    name = "input-reminder" if isinstance(step, InputStep) else "reminder"  # keys as before
    for target in targets:
        b.request(
            step.id,
            target,
            "reminder",
            keys.request_key(run.run_id, step.id, name, counter, target),
        )
    deadlines.arm(b, step.id, timeout=False)
