"""Approval steps: policies, who may decide, idempotency, lookups, timeouts, escalation,
reminders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine import commands as cmd
from engine import triggers as tr
from engine.errors import InvalidInput, NotAllowed, RunFinished, StepNotPending
from tests.engine.harness import REQUESTER, T0, Run


def approval(**kw: Any) -> dict[str, Any]:
    return {"id": "ok", "type": "approval", "approvers": ["U1", "U2", "U3"], **kw}


NEXT = {"id": "next", "type": "notify", "message": "approved by {{ steps.ok.decided_by }}"}


def test_request_goes_to_every_approver() -> None:
    run = Run(approval(policy="all"), NEXT)
    assert run.types() == ["run_started", "approval_requested"]
    asks = run.commands(cmd.RequestApproval)
    assert [(a.approver, a.kind, a.key) for a in asks] == [
        ("U1", "request", "r1:ok:request:0:U1"),
        ("U2", "request", "r1:ok:request:0:U2"),
        ("U3", "request", "r1:ok:request:0:U3"),
    ]
    assert run.run.steps["ok"].required == 3
    assert {p for _, p in run.run.waiting_on()} == {"U1", "U2", "U3"}


def test_any_first_approval_approves() -> None:
    run = Run(approval(), NEXT)
    run.vote("ok", "U2")
    assert run.run.steps["ok"].output == {
        "decision": "approved",
        "decided_by": ["U2"],
        "fields": {},
    }
    assert run.commands(cmd.SendNotification)[0].text == "approved by ['U2']"
    assert run.commands(cmd.UpdateApproval)[0].step_id == "ok"


def test_any_first_rejection_rejects_the_run() -> None:
    run = Run(approval(), NEXT)
    run.vote("ok", "U3", "reject")
    assert run.status("ok") == "rejected" and run.status("next") == "pending"
    assert run.run.status == "rejected"
    assert run.run.reason == "step ok was rejected by U3"


def test_all_one_rejection_rejects() -> None:
    run = Run(approval(policy="all"), NEXT)
    run.vote("ok", "U1")
    assert run.types() == ["decision_recorded"]
    assert len(run.commands(cmd.UpdateApproval)) == 1  # cards show "1 of 3"
    run.vote("ok", "U2", "reject")
    assert run.run.status == "rejected"


def test_all_needs_every_approver() -> None:
    run = Run(approval(policy="all"), NEXT)
    run.vote("ok", "U1")
    run.vote("ok", "U3")
    assert run.status("ok") == "waiting"
    run.vote("ok", "U2")
    assert run.run.steps["ok"].output["decided_by"] == ["U1", "U3", "U2"]
    assert run.status("next") == "running"


def test_majority_of_three_needs_two() -> None:
    run = Run(approval(policy="majority"), NEXT)
    assert run.run.steps["ok"].required == 2
    run.vote("ok", "U1", "reject")
    run.vote("ok", "U2")
    assert run.status("ok") == "waiting"
    run.vote("ok", "U3")
    assert run.status("ok") == "completed"


def test_two_of_three_with_a_reject_still_approves() -> None:
    run = Run(approval(policy={"n": 2}), NEXT)
    run.vote("ok", "U1", "reject")
    run.vote("ok", "U2")
    assert run.status("ok") == "waiting"
    run.vote("ok", "U3")
    assert run.run.steps["ok"].output["decision"] == "approved"
    assert run.run.steps["ok"].output["decided_by"] == ["U2", "U3"]


def test_two_of_three_rejected_once_two_cannot_be_reached() -> None:
    run = Run(approval(policy={"n": 2}), NEXT)
    run.vote("ok", "U1", "reject")
    run.vote("ok", "U3", "reject")
    assert run.run.steps["ok"].output["decided_by"] == ["U1", "U3"]
    assert run.run.status == "rejected"


def test_policy_that_cannot_be_met_fails_the_step() -> None:
    run = Run(approval(approvers=["U1"], policy={"n": 2}))
    assert (
        run.run.steps["ok"].error == "the policy needs 2 approvals but only 1 approvers were found"
    )


def test_requester_cannot_approve_their_own_request() -> None:
    run = Run(approval(approvers=[REQUESTER, "U1"], policy="all"))
    assert run.run.steps["ok"].approvers == ["U1"]  # not asked, so `all` stays reachable
    with pytest.raises(NotAllowed, match="you cannot approve your own request"):
        run.vote("ok", REQUESTER)
    run.vote("ok", "U1")
    assert run.run.status == "completed"
    alone = Run(approval(approvers=[REQUESTER]))
    assert alone.run.steps["ok"].error == "the requester is the only approver and cannot approve"
    allowed = Run(approval(approvers=[REQUESTER, "U1"], allow_self_approval=True))
    allowed.vote("ok", REQUESTER)
    assert allowed.run.status == "completed"


def test_non_approver_is_refused() -> None:
    run = Run(approval())
    with pytest.raises(NotAllowed, match="not an approver of this step"):
        run.vote("ok", "U9")
    assert run.run.steps["ok"].votes == []


def test_a_second_vote_is_refused_with_the_first_one() -> None:
    run = Run(approval(policy="all"))
    run.vote("ok", "U1")
    for decision in ("approve", "reject"):  # the same click again, or a change of mind
        with pytest.raises(NotAllowed, match="you already approved this step") as refused:
            run.vote("ok", "U1", decision)
        assert refused.value.code == "already_voted"
        assert refused.value.facts["decision"] == "approve" and refused.value.facts["at"]
    assert len(run.run.steps["ok"].votes) == 1


def test_refusals_carry_a_stable_code() -> None:
    run = Run(approval(approvers=[REQUESTER, "U1"], policy="all"))
    with pytest.raises(NotAllowed) as own:
        run.vote("ok", REQUESTER)
    with pytest.raises(NotAllowed) as stranger:
        run.vote("ok", "U9")
    assert (own.value.code, stranger.value.code) == ("own_request", "not_approver")
    with pytest.raises(NotAllowed) as override:
        run.do(
            tr.Decide(step_id="ok", actor="U9", decision="approve", channel="api", override=True)
        )
    assert override.value.code == "not_admin"


def test_decision_on_a_decided_step_says_what_it_is() -> None:
    run = Run(approval(), NEXT)
    run.vote("ok", "U1")
    with pytest.raises(
        StepNotPending, match=r"step ok is not waiting for a decision \(it is approved\)"
    ) as refused:
        run.vote("ok", "U2")
    assert refused.value.code == "closed"
    assert refused.value.facts["decided_by"] == "U1" and refused.value.facts["status"] == "approved"


def test_decision_on_a_finished_run_before_the_step_is_reached() -> None:
    run = Run({"id": "a", "type": "http", "url": "https://x"}, approval())
    run.fail("r1:a:1", reason="permanent")
    with pytest.raises(RunFinished, match="already finished"):
        run.vote("ok", "U1")


def test_override_decides_outright_and_is_audited() -> None:
    run = Run(approval(policy="all"), NEXT)
    run.vote("ok", "Uops", override=True, admin=True)
    vote = run.run.steps["ok"].votes[0]
    assert vote.actor == "Uops" and vote.override
    assert run.run.steps["ok"].output["decided_by"] == ["Uops"]
    assert run.status("next") == "running"


def test_override_skips_the_self_approval_check() -> None:
    run = Run(approval(approvers=[REQUESTER, "U1"]))
    run.vote("ok", REQUESTER, override=True, admin=True)
    assert run.run.steps["ok"].outcome == "approved"


def test_decision_fields_are_validated_per_decision() -> None:
    fields = [{"id": "comment", "required_on": "reject"}]
    run = Run(approval(fields=fields))
    with pytest.raises(InvalidInput) as bad:
        run.vote("ok", "U1", "reject")
    assert "comment" in bad.value.errors
    run.vote("ok", "U1", "reject", fields={"comment": "too much"})
    assert run.run.steps["ok"].output["fields"] == {"comment": "too much"}


def test_approvers_from_a_template_input() -> None:
    run = Run(
        approval(approvers=["{{ inputs.manager }}", "{{ inputs.team }}"]),
        inputs={"manager": "U5", "team": ["U6", "U5"]},
    )
    assert run.run.steps["ok"].approvers == ["U5", "U6"]


def test_approver_that_renders_to_garbage_fails_with_the_spec() -> None:
    run = Run(approval(approvers=["{{ inputs.manager }}"]), inputs={"manager": "bob"})
    assert "'bob'" in (run.run.steps["ok"].error or "")
    assert "{{ inputs.manager }}" in (run.run.steps["ok"].error or "")


def test_groups_and_emails_are_looked_up_first() -> None:
    run = Run(approval(approvers=["U1", "SFIN", "ann@example.com"], policy="all"))
    assert run.types()[-1] == "approvers_resolving"
    [lookup] = run.commands(cmd.ResolveApprovers)
    assert lookup.key == "r1:ok:resolve:0"
    assert lookup.specs == ["U1", "SFIN", "email:ann@example.com"]  # one form for an address
    with pytest.raises(StepNotPending, match="being looked up"):
        run.vote("ok", "U1")
    stale = tr.ApproversResolved(command_key="r1:ok:resolve:9", step_id="ok", approvers=["U1"])
    assert not run.do(stale)
    resolved = stale.model_copy(
        update={"command_key": "r1:ok:resolve:0", "approvers": ["U1", "U7", "email:ann@x.io"]}
    )
    run.do(resolved)
    assert run.types() == ["approval_requested"]
    assert run.run.steps["ok"].required == 3
    assert len(run.commands(cmd.RequestApproval)) == 3
    assert not run.do(resolved)  # delivered twice


def test_failed_lookup_fails_the_step() -> None:
    run = Run(approval(approvers=["SNOPE"]))
    lookup = "r1:ok:resolve:0"
    error = "unknown user group SNOPE"
    run.do(tr.ApproversResolved(command_key=lookup, step_id="ok", approvers=[], error=error))
    assert run.run.steps["ok"].error == "could not look up the approvers: unknown user group SNOPE"
    assert run.run.status == "failed"


def test_channel_gets_one_request() -> None:
    run = Run(approval(channel="#approvals"))
    [ask] = run.commands(cmd.RequestApproval)
    assert ask.approver == "#approvals"
    assert run.run.steps["ok"].approvers == ["U1", "U2", "U3"]


@pytest.mark.parametrize(("action", "outcome"), [("reject", "rejected"), ("approve", "approved")])
def test_timeout_decides_as_the_system(action: str, outcome: str) -> None:
    run = Run(approval(timeout="2d", on_timeout=action), NEXT)
    timer = run.timer("timeout")
    assert timer.id == "r1:ok:timeout:0" and timer.due_at == T0 + timedelta(days=2)
    run.fire(timer)
    assert run.types()[:3] == ["step_timed_out", "decision_recorded", "step_completed"]
    [vote] = run.run.steps["ok"].votes
    assert (vote.actor, vote.channel, vote.decision) == ("system", "system", action)
    assert vote.reason == "no decision within 2d"
    output = run.run.steps["ok"].output
    assert output["decided_by"] == ["system"] and output["reason"] == "no decision within 2d"
    assert run.run.steps["ok"].outcome == outcome


def test_timeout_fail_fails_the_run() -> None:
    run = Run(approval(timeout="1h"))
    run.fire(run.timer("timeout"))
    assert run.run.status == "failed" and run.run.reason == "step ok failed: no decision within 1h"
    assert run.commands(cmd.UpdateApproval)  # the cards lose their buttons


def test_timeout_after_the_decision_is_ignored() -> None:
    run = Run(approval(timeout="1h", remind_every="10m"), NEXT)
    timeout, reminder = run.timer("timeout"), run.timer("reminder")
    run.vote("ok", "U1")
    assert set(run.last.cancel_timers) == {timeout.id, reminder.id}
    assert not run.fire(timeout)
    assert not run.fire(reminder)


def test_escalation_chain_then_fail() -> None:
    run = Run(
        approval(
            timeout="1h",
            on_timeout="escalate",
            escalate_to=[["U8"], "{{ inputs.boss }}"],
            remind_every="30m",
        ),
        inputs={"boss": "U9"},
    )
    run.fire(run.timer("timeout"))
    assert run.types() == ["step_timed_out", "step_escalated"]
    [ask] = run.commands(cmd.RequestApproval)
    assert (ask.approver, ask.kind, ask.key) == ("U8", "escalated", "r1:ok:escalated:1:U8")
    assert run.timer("timeout").id == "r1:ok:timeout:1"
    assert run.timer("reminder").id == "r1:ok:reminder:1.1"
    assert "r1:ok:reminder:0.1" in run.last.cancel_timers
    with pytest.raises(NotAllowed):
        run.vote("ok", "U1")  # the first level is no longer asked
    run.fire(run.timer("timeout"))
    assert run.run.steps["ok"].approvers == ["U9"] and run.run.steps["ok"].escalation_level == 2
    run.fire(run.timer("timeout"))
    assert run.types()[:2] == ["step_timed_out", "step_failed"]
    assert run.run.steps["ok"].error == "no decision within 1h at the last escalation level"


def test_escalated_approver_decides_alone() -> None:
    run = Run(approval(policy="all", timeout="1h", on_timeout="escalate", escalate_to=["U8"]))
    run.vote("ok", "U1")
    run.fire(run.timer("timeout", run.all[0]))
    run.vote("ok", "U8")
    assert run.run.steps["ok"].output["decided_by"] == ["U8"]
    assert run.run.status == "completed"


def test_escalation_to_a_group_is_looked_up() -> None:
    run = Run(approval(timeout="1h", on_timeout="escalate", escalate_to=["SBOSS"]))
    run.fire(run.timer("timeout"))
    assert run.types() == ["step_timed_out", "approvers_resolving"]
    assert run.commands(cmd.ResolveApprovers)[0].key == "r1:ok:resolve:1"
    run.do(tr.ApproversResolved(command_key="r1:ok:resolve:1", step_id="ok", approvers=["U4"]))
    assert run.types() == ["step_escalated"]
    assert run.run.steps["ok"].approvers == ["U4"]


def test_reminders_go_to_those_who_have_not_voted_and_stop() -> None:
    run = Run(approval(policy="all", remind_every="1h", max_reminders=2))
    run.vote("ok", "U1")
    run.fire(run.timer("reminder", run.all[0]))
    assert run.types() == ["reminder_sent"]
    assert [a.approver for a in run.commands(cmd.RequestApproval)] == ["U2", "U3"]
    assert all(a.kind == "reminder" for a in run.commands(cmd.RequestApproval))
    second = run.timer("reminder")
    assert second.due_at == T0 + timedelta(hours=2)
    run.fire(second)
    assert run.run.steps["ok"].reminders == 2 and run.last.timers == []


def test_reminders_stop_after_the_decision() -> None:
    run = Run(approval(remind_every="1h"))
    reminder = run.timer("reminder")
    run.vote("ok", "U2")
    assert reminder.id in run.last.cancel_timers
    assert not run.fire(reminder)


def test_override_while_approvers_are_looked_up() -> None:
    run = Run(approval(approvers=["SGRP"]), NEXT)
    run.vote("ok", "Uops", override=True, admin=True)
    assert run.status("ok") == "completed" and run.status("next") == "running"
    late = tr.ApproversResolved(command_key="r1:ok:resolve:0", step_id="ok", approvers=["U1"])
    assert not run.do(late)
