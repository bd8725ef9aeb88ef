"""`Decision.then`: two decisions in a row as one, which is how requests for one run that arrive
together are committed."""

from __future__ import annotations

from datetime import timedelta

from engine import commands as cmd
from engine import events as ev
from engine.decider.decision import Decision
from tests.engine.harness import T0, Run


def timer(timer_id: str, minutes: int = 10) -> cmd.Timer:
    return cmd.Timer(
        id=timer_id,
        tenant_id="T1",
        run_id="r1",
        due_at=T0 + timedelta(minutes=minutes),
        kind="wait",
    )


def test_events_and_commands_keep_their_order_and_the_state_is_the_later_one() -> None:
    run = Run({"id": "ok", "type": "approval", "approvers": ["U1", "U2", "U3"], "policy": "all"})
    first, second = run.vote("ok", "U1"), run.vote("ok", "U2")
    both = first.then(second)
    assert both.events == [*first.events, *second.events]
    assert both.commands == [*first.commands, *second.commands]
    assert both.state is second.state
    assert [v.actor for v in both.state.steps["ok"].votes] == ["U1", "U2"]


def test_a_later_decision_without_events_leaves_the_state_as_it_was() -> None:
    run = Run({"id": "ok", "type": "approval", "approvers": ["U1", "U2"], "policy": "all"})
    first = run.vote("ok", "U1")
    assert first.then(Decision(cancel_timers=["x"])).state is first.state


def test_a_timer_armed_then_cancelled_ends_cancelled() -> None:
    both = Decision(timers=[timer("a"), timer("b")]).then(Decision(cancel_timers=["a"]))
    assert both.timers == [timer("b")] and both.cancel_timers == ["a"]


def test_a_timer_cancelled_then_armed_ends_armed() -> None:
    both = Decision(cancel_timers=["a", "b"]).then(Decision(timers=[timer("a")]))
    assert both.timers == [timer("a")] and both.cancel_timers == ["b"]


def test_a_timer_armed_again_keeps_only_the_later_arming() -> None:
    both = Decision(timers=[timer("a", 5), timer("b")]).then(Decision(timers=[timer("a", 20)]))
    assert both.timers == [timer("b"), timer("a", 20)] and both.cancel_timers == []


def test_a_timer_cancelled_twice_is_cancelled_once() -> None:
    both = Decision(cancel_timers=["a"]).then(Decision(cancel_timers=["a", "b"]))
    assert both.timers == [] and both.cancel_timers == ["a", "b"]


def test_the_last_vote_of_a_step_cancels_its_timers() -> None:
    run = Run(
        {
            "id": "ok",
            "type": "approval",
            "approvers": ["U1", "U2"],
            "policy": "all",
            "timeout": "1h",
            "remind_every": "10m",
        }
    )
    armed = {t.id for t in run.last.timers}
    both = run.vote("ok", "U1").then(run.vote("ok", "U2"))
    assert set(both.cancel_timers) == armed and both.timers == []
    assert [e.type for e in both.events if isinstance(e, ev.DecisionRecorded)] == [
        "decision_recorded",
        "decision_recorded",
    ]


def test_a_step_started_and_decided_together_leaves_no_timer_armed() -> None:
    run = Run({"id": "ok", "type": "approval", "approvers": ["U1"], "timeout": "1h"})
    started = run.last
    assert [t.kind for t in started.timers] == ["timeout"]
    both = started.then(run.vote("ok", "U1"))
    assert both.timers == [] and started.timers[0].id in both.cancel_timers
