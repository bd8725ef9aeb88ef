"""The texts about handing on, escalating, asking and deadlines, from a step's state alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.blocks.handoffs import handoff_lines, nudge, question_lines, sla_line, span
from bot.blocks.modals import ask_modal, delegate_modal, reassign_modal
from engine.ports import TaskSla
from engine.state import Delegation, Question, StepState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def step(**changes: object) -> StepState:
    base = StepState(id="ok", type="approval", status="waiting", approvers=["UCAT"], required=1)
    return base.model_copy(update=changes)


def test_span_keeps_the_two_largest_units() -> None:
    assert span(timedelta(days=2, hours=3, minutes=5)) == "2d 3h"
    assert span(timedelta(hours=3, minutes=20)) == "3h 20m"
    assert span(timedelta(seconds=30)) == "under a minute"


def test_each_kind_of_handoff_reads_right_on_both_cards() -> None:
    for kind, given, taken in (
        ("delegate", "Delegated to you by <@UBOB>", "You delegated this to <@UCAT>"),
        ("reassign", "Reassigned to you from <@UBOB> by <@UADM>", "Reassigned to <@UCAT> by"),
        ("away", "You act for <@UBOB>, who is away", "Sent to <@UCAT> while you are away"),
    ):
        by = "UADM" if kind == "reassign" else "UBOB"
        moved = Delegation(from_="UBOB", to="UCAT", by=by, kind=kind, at=T0)
        state = step(delegations=[moved])
        assert given in handoff_lines(state, "UCAT")[0]
        assert taken in handoff_lines(state, "UBOB")[0]


def test_escalation_names_people_and_says_how_long_it_waited() -> None:
    state = step(
        escalation_level=1,
        escalation_reason="no decision within 2h from UBOB <!channel>",
        requested_at=T0,
        escalated_at=T0 + timedelta(hours=2),
    )
    (mine,) = handoff_lines(state, "UCAT")
    assert "Escalated to you" in mine and "from <@UBOB>" in mine and "waited 2h" in mine
    assert "<!channel>" not in mine  # engine text is escaped before ids become mentions
    (theirs,) = handoff_lines(state, "UBOB")
    assert theirs.startswith(":arrow_up: Escalated to <@UCAT>")
    assert "Escalated to #approvals" in handoff_lines(state, "UBOB", "#approvals")[0]


def test_questions_show_their_answer_or_that_timers_are_paused() -> None:
    open_q = Question(id="q1", by="UCAT", to="UADA", text="Why?", asked_at=T0)
    lines = question_lines(step(questions=[open_q], paused=True))
    assert "<@UCAT> asked <@UADA>: Why?" in lines[0]
    assert "paused" in lines[1]
    answered = open_q.model_copy(
        update={"answer": "Audit", "answered_at": T0, "answered_by": "UADA"}
    )
    assert "answered" in question_lines(step(questions=[answered]))[1]


def test_a_reminder_counts_and_says_how_long() -> None:
    state = step(requested_at=T0, reminded={"UCAT": 2})
    note = nudge(state, "reminder", "UCAT", T0 + timedelta(hours=8))
    assert note == ":bell: Reminder 2: this still waits on you. It has waited 8h."
    assert nudge(state, "request", "UCAT", T0) is None


def test_sla_line_shows_next_deadlines_or_the_pause() -> None:
    sla = TaskSla(
        tenant_id="T1",
        run_id="r1",
        workflow="w",
        version=1,
        step_id="ok",
        step_title="OK",
        kind="approval",
        approvers=["UCAT"],
        requester="UADA",
        waiting_since=T0,
        escalation_level=0,
        next_reminder_at=T0 + timedelta(hours=4),
        escalates_at=None,
        times_out_at=T0 + timedelta(days=1),
        paused=False,
        open_question=None,
    )
    line = sla_line(sla, T0 + timedelta(hours=3))
    assert "waiting 3h" in line and "next reminder" in line and "times out" in line
    paused = sla_line(
        sla.__class__(**{**sla.__dict__, "paused": True, "open_question": "Why?"}), T0
    )
    assert "paused: question open" in paused and "next reminder" not in paused


def test_handoff_modals_fit_slack() -> None:
    long = "A very long step title that goes on and on"
    for view in (
        delegate_modal("r1", "ok", long),
        ask_modal("r1", "ok", long, "UADA"),
        reassign_modal("r1", "ok", long, ["UBOB", "email:x@y.org"]),
    ):
        data = view.to_dict()
        assert len(data["title"]["text"]) <= 24
        assert data["private_metadata"] == '{"run_id":"r1","step_id":"ok"}'
