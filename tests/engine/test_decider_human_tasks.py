"""Reminders in working hours, escalation chains, system decisions on timeout, delegation,
out of office, questions that pause the timers, comments: the decider on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import commands as cmd
from engine import events as ev
from engine import triggers as tr
from engine.away import Away
from engine.decider.env import DecideEnv, MissingTimeZones
from engine.decider.evolve import replay
from engine.errors import InvalidInput, NotAllowed, NotFound, StepNotPending
from engine.timeline import describe
from engine.working_time import WorkingHours
from tests.engine.harness import T0, Run

BERLIN = WorkingHours(default_zone="Europe/Berlin")
FRIDAY = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 16:00 in Berlin, 07:00 in Los Angeles
ZONES = {"U1": "America/Los_Angeles", "U2": "Europe/Berlin"}
NEXT = {"id": "next", "type": "notify", "message": "done"}


def approval(**kw: Any) -> dict[str, Any]:
    return {"id": "ok", "type": "approval", "approvers": ["U1"], **kw}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------- reminders


def test_reminders_over_a_weekend_each_in_their_own_working_hours() -> None:
    env = DecideEnv(hours=BERLIN, zones=ZONES)
    run = Run(
        approval(approvers=["U1", "U2"], policy="all", remind_every="4h", max_reminders=5),
        env=env,
        now=FRIDAY,
    )
    step = run.run.steps["ok"]
    assert step.approver_time_zones == ZONES
    sent: list[tuple[datetime, list[str]]] = []
    timer = run.timer("reminder")
    while True:
        run.fire(timer)
        sent.append((run.now, [c.approver for c in run.commands(cmd.RequestApproval)]))
        assert all(c.kind == "reminder" for c in run.commands(cmd.RequestApproval))
        found = [t for t in run.last.timers if t.kind == "reminder"]
        if not found:
            break
        timer = found[0]
    assert sent == [
        (utc(2026, 11, 27, 19, 0), ["U1"]),  # Fri 11:00 in LA; Berlin is off (20:00)
        (utc(2026, 11, 27, 23, 0), ["U1"]),  # Fri 15:00 LA
        (utc(2026, 11, 30, 8, 0), ["U2"]),  # Mon 09:00 Berlin: its first, moved over the weekend
        (utc(2026, 11, 30, 12, 0), ["U2"]),
        (utc(2026, 11, 30, 16, 0), ["U2"]),
        (utc(2026, 11, 30, 17, 0), ["U1"]),  # Mon 09:00 LA (Fri 19:00 LA moved to Monday)
        (utc(2026, 11, 30, 21, 0), ["U1"]),
        (utc(2026, 12, 1, 1, 0), ["U1"]),  # Mon 17:00 LA: U1's fifth, the last
        (utc(2026, 12, 1, 8, 0), ["U2"]),  # Tue 09:00 Berlin (Mon 20:00 moved)
        (utc(2026, 12, 1, 12, 0), ["U2"]),  # U2's fifth
    ]
    assert run.run.steps["ok"].reminded == {"U1": 5, "U2": 5}
    assert run.run.steps["ok"].next_reminder_at is None


def test_a_vote_stops_that_persons_reminders_and_the_decision_stops_all() -> None:
    env = DecideEnv(hours=BERLIN, zones=ZONES)
    run = Run(
        approval(approvers=["U1", "U2"], policy="all", remind_every="4h"), NEXT, env=env, now=FRIDAY
    )
    assert run.run.steps["ok"].next_reminder_at == utc(2026, 11, 27, 19, 0)
    run.later(60)
    run.vote("ok", "U1")
    step = run.run.steps["ok"]
    assert step.reminders_due == {"U2": utc(2026, 11, 30, 8, 0)}
    assert run.timer("reminder").due_at == utc(2026, 11, 30, 8, 0)
    run.vote("ok", "U2")
    assert "r1:ok:reminder:0.1" in run.last.cancel_timers
    step = run.run.steps["ok"]
    assert step.next_reminder_at is None and step.reminders_due == {}
    assert step.times_out_at is None


def test_a_zone_the_environment_lacks_is_asked_for_only_when_needed() -> None:
    strict = DecideEnv(hours=BERLIN, strict_zones=True)
    looked_up = Run(approval(approvers=["U1", "email:a@b.co"], remind_every="4h"), env=strict)
    resolved = tr.ApproversResolved(
        command_key="r1:ok:resolve:0", step_id="ok", approvers=["U1", "email:a@b.co"]
    )
    with pytest.raises(MissingTimeZones) as missing:
        looked_up.do(resolved)
    assert missing.value.principals == ["U1"]  # emails use the default zone
    run = Run(approval(approvers=["U1"]), env=strict)  # nothing depends on zones
    assert run.run.steps["ok"].approver_time_zones == {}


# ---------------------------------------------------------------- timeouts and escalation


def test_working_hours_timeout_rejects_as_the_system_with_the_reason() -> None:
    env = DecideEnv(hours=BERLIN, zones={"U2": "Europe/Berlin"})
    run = Run(
        approval(approvers=["U2"], timeout="16 working hours", on_timeout="reject"),
        NEXT,
        env=env,
        now=FRIDAY,
    )
    timer = run.timer("timeout")
    assert timer.due_at == utc(2026, 12, 1, 13, 0) == run.run.steps["ok"].times_out_at
    run.fire(timer)
    assert run.types()[:3] == ["step_timed_out", "decision_recorded", "step_completed"]
    [vote] = run.run.steps["ok"].votes
    # The system's decision, not an operator's override.
    assert (vote.actor, vote.channel, vote.by_system, vote.override) == (
        "system",
        "system",
        True,
        False,
    )
    assert vote.reason == "no decision within 16 working hours"
    assert run.run.steps["ok"].output["decided_by"] == ["system"]
    assert run.run.status == "rejected"
    lines = [describe(e) for e in run.events]
    assert "the system rejected step ok: no decision within 16 working hours" in lines
    # A run recorded when the system's decisions were marked as overrides replays the same.
    old = [
        e.model_copy(update={"override": True}) if isinstance(e, ev.DecisionRecorded) else e
        for e in run.events
    ]
    [replayed] = replay(old).steps["ok"].votes
    assert (replayed.by_system, replayed.override) == (True, False)
    assert replayed.reason == "no decision within 16 working hours"


def test_two_level_escalation_chain_ending_in_a_channel() -> None:
    run = Run(
        approval(
            timeout="4h",
            on_timeout="escalate",
            escalate_to=[{"approvers": ["U8"], "timeout": "2h"}, "#approvals"],
            remind_every="1h",
        ),
        NEXT,
    )
    step = run.run.steps["ok"]
    assert step.escalates_at == T0 + timedelta(hours=4) and step.times_out_at is None
    run.fire(run.timer("timeout"))
    step = run.run.steps["ok"]
    assert (step.escalation_level, step.approvers) == (1, ["U8"])
    assert step.escalation_reason == "no decision within 4h from U1"
    assert step.escalated_at == T0 + timedelta(hours=4) and step.requested_at == T0
    assert step.escalates_at == T0 + timedelta(hours=6)  # the level's own timeout
    [ask] = run.commands(cmd.RequestApproval)
    assert (ask.approver, ask.kind) == ("U8", "escalated")
    assert run.commands(cmd.UpdateApproval)  # the first approver's card says it moved on
    run.fire(run.timer("timeout"))
    assert run.types() == ["step_timed_out", "approvers_resolving"]  # the channel's members
    # Cards are redrawn once the new approvers are known, so they name whom it moved on to.
    assert not run.commands(cmd.UpdateApproval)
    run.do(tr.ApproversResolved(command_key="r1:ok:resolve:2", step_id="ok", approvers=["U5"]))
    assert run.commands(cmd.UpdateApproval)
    step = run.run.steps["ok"]
    assert (step.escalation_level, step.approvers) == (2, ["U5"])
    assert step.escalation_reason == "no decision within 2h from U8"
    assert step.times_out_at == run.now + timedelta(hours=4) and step.escalates_at is None
    [card] = run.commands(cmd.RequestApproval)
    assert (card.approver, card.kind) == ("#approvals", "escalated")  # one card, in the channel
    assert step.reminders_due == {"#approvals": run.now + timedelta(hours=1)}
    run.vote("ok", "U5")
    assert run.run.steps["ok"].output["decided_by"] == ["U5"]


# ---------------------------------------------------------------- delegation


def test_an_approver_delegates_and_the_chain_is_recorded() -> None:
    run = Run(approval(approvers=["U1", "U2"], policy="all", remind_every="1h"), NEXT)
    run.later(600)
    run.do(tr.Delegate(step_id="ok", actor="U1", to="U7", reason="on leave", channel="slack"))
    step = run.run.steps["ok"]
    assert step.approvers == ["U7", "U2"]
    [d] = step.delegations
    assert (d.from_, d.to, d.by, d.kind, d.reason) == ("U1", "U7", "U1", "delegate", "on leave")
    assert step.acting_for("U7") == d
    [card] = run.commands(cmd.RequestApproval)
    assert (card.approver, card.kind) == ("U7", "delegated")
    assert run.commands(cmd.UpdateApproval)
    assert step.reminders_due == {"U2": T0 + timedelta(hours=1), "U7": run.now + timedelta(hours=1)}
    with pytest.raises(NotAllowed, match="not an approver"):
        run.vote("ok", "U1")
    run.vote("ok", "U7")
    run.vote("ok", "U2")
    assert run.run.steps["ok"].output["decided_by"] == ["U7", "U2"]


@pytest.mark.parametrize(
    ("trigger", "error", "message"),
    [
        (tr.Delegate(step_id="ok", actor="U9", to="U7"), NotAllowed, "not an approver"),
        (tr.Delegate(step_id="ok", actor="U1", to="UREQ"), NotAllowed, "own request"),
        (tr.Delegate(step_id="ok", actor="U1", to="U2"), NotAllowed, "already asked"),
        (tr.Delegate(step_id="ok", actor="U1", to="bob"), InvalidInput, "to"),
        (
            tr.Delegate(step_id="ok", actor="A", to="U7", reassign=True, admin=True),
            InvalidInput,
            "from",
        ),
        (tr.Delegate(step_id="ok", actor="A", to="U7", reassign=True), NotAllowed, "admins"),
        (tr.Delegate(step_id="nope", actor="U1", to="U7"), NotFound, "no step"),
        (tr.Delegate(step_id="ok", actor="U1", to="U7", from_="U2"), NotAllowed, "only an admin"),
    ],
)
def test_delegation_refusals(trigger: tr.Delegate, error: type[Exception], message: str) -> None:
    run = Run(approval(approvers=["U1", "U2"]))
    with pytest.raises(error, match=message):
        run.do(trigger)


def test_an_admin_reassigns_and_a_voter_cannot_be_moved() -> None:
    run = Run(approval(approvers=["U1", "U2"], policy="all"))
    run.vote("ok", "U1")
    with pytest.raises(NotAllowed, match="already decided"):
        run.do(
            tr.Delegate(
                step_id="ok", actor="UADMIN", to="U7", from_="U1", reassign=True, admin=True
            )
        )
    run.do(tr.Delegate(step_id="ok", actor="UADMIN", to="U7", reassign=True, admin=True))
    [d] = run.run.steps["ok"].delegations
    assert (d.from_, d.to, d.by, d.kind) == ("U2", "U7", "UADMIN", "reassign")


def test_input_step_assignee_delegates() -> None:
    run = Run({"id": "form", "type": "input", "assignee": "U1", "fields": [{"id": "v"}]})
    run.do(tr.Delegate(step_id="form", actor="U1", to="email:ann@example.com"))
    [req] = run.commands(cmd.RequestInput)
    assert (req.assignee, req.kind) == ("email:ann@example.com", "delegated")
    run.do(
        tr.SubmitInput(
            step_id="form", actor="email:ann@example.com", values={"v": "x"}, channel="web"
        )
    )
    assert run.run.status == "completed"


def test_out_of_office_sends_new_requests_to_the_delegate_only_inside_the_window() -> None:
    away = Away("T1", "U1", "U9", starts=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
    env = DecideEnv(aways=(away,))
    inside = Run(approval(approvers=["U1", "U2"]), env=env)
    step = inside.run.steps["ok"]
    assert step.approvers == ["U9", "U2"]
    [d] = step.delegations
    assert (d.from_, d.to, d.kind, d.by) == ("U1", "U9", "away", "system")
    assert d.reason.startswith("U1 is away until")
    kinds = {c.approver: c.kind for c in inside.commands(cmd.RequestApproval)}
    assert kinds == {"U9": "delegated", "U2": "request"}
    after = Run(approval(approvers=["U1", "U2"]), env=env, now=T0 + timedelta(days=1))
    assert after.run.steps["ok"].approvers == ["U1", "U2"]
    assert after.run.steps["ok"].delegations == []
    before = Run(approval(approvers=["U1"]), env=env, now=T0 - timedelta(days=2))
    assert before.run.steps["ok"].approvers == ["U1"]


def test_out_of_office_of_an_escalation_approver() -> None:
    away = Away("T1", "U8", "U9", starts=T0, until=T0 + timedelta(days=7))
    run = Run(
        approval(timeout="1h", on_timeout="escalate", escalate_to=[["U8"]]),
        env=DecideEnv(aways=(away,)),
    )
    run.fire(run.timer("timeout"))
    assert run.run.steps["ok"].approvers == ["U9"]
    [card] = run.commands(cmd.RequestApproval)
    assert (card.approver, card.kind) == ("U9", "delegated")


# ---------------------------------------------------------------- questions


def test_a_question_pauses_the_timers_and_the_answer_resumes_with_the_time_left() -> None:
    run = Run(approval(timeout="8h", remind_every="4h"), NEXT)
    timeout, reminder = run.timer("timeout"), run.timer("reminder")
    run.later(3 * 3600)
    run.do(tr.Ask(step_id="ok", actor="U1", text="Which cost centre?", channel="slack"))
    assert set(run.last.cancel_timers) >= {timeout.id, reminder.id}
    step = run.run.steps["ok"]
    assert step.paused and step.paused_at == T0 + timedelta(hours=3)
    [q] = run.commands(cmd.AskQuestion)
    assert (q.question_id, q.to, q.by, q.text) == ("q1", "UREQ", "U1", "Which cost centre?")
    assert not run.fire(reminder)  # a timer claimed before the pause does nothing
    run.later(3600)  # the requester answers two hours after the question
    assert run.now == T0 + timedelta(hours=5)
    with pytest.raises(NotAllowed, match="only UREQ"):
        run.do(tr.Answer(step_id="ok", question_id="q1", actor="U1", text="CC-7"))
    run.do(tr.Answer(step_id="ok", question_id="q1", actor="UREQ", text="CC-7", channel="slack"))
    step = run.run.steps["ok"]
    assert not step.paused
    assert step.times_out_at == T0 + timedelta(hours=10)  # 5h were left
    assert step.next_reminder_at == T0 + timedelta(hours=6)  # 1h was left
    assert run.timer("timeout").due_at == T0 + timedelta(hours=10)
    [told] = run.commands(cmd.AnswerDelivered)
    assert (told.to, told.text) == ("U1", "CC-7")
    q1 = step.questions[0]
    assert (q1.answer, q1.answered_by, q1.answered_at) == ("CC-7", "UREQ", run.now)
    assert not run.fire(timeout)  # the old due time (8h) is no longer the timeout
    run.now = T0 + timedelta(hours=10)
    run.fire(run.timer("timeout", run.all[-2]))
    assert run.run.status == "failed"


def test_without_pause_on_question_the_timers_keep_running() -> None:
    run = Run(approval(timeout="8h", pause_on_question=False))
    run.do(tr.Ask(step_id="ok", actor="U1", text="?"))
    assert not run.run.steps["ok"].paused and not run.last.cancel_timers


def test_only_a_waiting_approver_may_ask() -> None:
    run = Run(approval(approvers=["U1", "U2"], policy="all"))
    with pytest.raises(NotAllowed):
        run.do(tr.Ask(step_id="ok", actor="U5", text="?"))
    run.vote("ok", "U1")
    with pytest.raises(NotAllowed, match="already decided"):
        run.do(tr.Ask(step_id="ok", actor="U1", text="?"))
    with pytest.raises(InvalidInput):
        run.do(tr.Ask(step_id="ok", actor="U2", text="   "))
    run.vote("ok", "U2")
    with pytest.raises(StepNotPending):
        run.do(tr.Ask(step_id="ok", actor="U2", text="late?"))


# ---------------------------------------------------------------- comments


def test_comments_go_to_the_timeline_even_after_the_end() -> None:
    run = Run(approval())
    run.do(tr.Comment(actor="U3", text="Looks fine to me", step_id="ok"))
    assert describe(run.events[-1]) == "U3 commented on step ok via slack: Looks fine to me"
    run.vote("ok", "U1")
    assert run.run.status == "completed"
    run.do(tr.Comment(actor="U1", text="Paid.", channel="web"))
    assert run.types() == ["comment_added"] and run.run.status == "completed"
    with pytest.raises(NotFound):
        run.do(tr.Comment(actor="U1", text="x", step_id="nope"))


@pytest.mark.parametrize("text", ["a\x00b", "half \ud83d"])
def test_a_comment_question_or_answer_no_store_can_keep_is_refused(text: str) -> None:
    run = Run(approval())
    before = len(run.events)
    for trigger in (
        tr.Comment(actor="U3", text=text, step_id="ok"),
        tr.Ask(step_id="ok", actor="U1", text=text),
    ):
        with pytest.raises(InvalidInput) as refused:
            run.do(trigger)
        assert list(refused.value.errors) == ["text"]
    assert len(run.events) == before


def test_someone_away_cannot_be_handed_a_request_before_or_after_they_may() -> None:
    run = Run(approval(approvers=["U1", "U2"], policy="all"))
    away = Away("T1", "U7", "U8", T0 - timedelta(days=1), T0 + timedelta(days=2))
    with pytest.raises(NotAllowed) as refused:
        run.do(tr.Delegate(step_id="ok", actor="U1", to="U7", to_away=away))
    assert refused.value.code == "away" and refused.value.facts["stand_in"] == "U8"
    assert not run.run.steps["ok"].delegations
    later = Away("T1", "U7", "U8", T0 + timedelta(days=1), T0 + timedelta(days=2))
    run.do(tr.Delegate(step_id="ok", actor="U1", to="U7", to_away=later))  # not away yet
    assert [d.to for d in run.run.steps["ok"].delegations] == ["U7"]
