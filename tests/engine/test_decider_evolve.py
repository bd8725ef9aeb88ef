"""evolve / fold / replay: the state is a pure function of the events."""

from __future__ import annotations

import pytest

from engine import events as ev
from engine.decider import evolve, fold, replay
from tests.engine.harness import T0, Run


def test_evolve_leaves_the_given_state_untouched() -> None:
    run = Run({"id": "ok", "type": "approval", "approvers": ["U1", "U2"], "policy": "all"})
    before = run.run.model_copy(deep=True)
    vote = ev.DecisionRecorded(at=T0, step_id="ok", actor="U1", decision="approve", channel="web")
    after = evolve(run.run, vote)
    assert run.run == before
    assert [v.actor for v in after.steps["ok"].votes] == ["U1"]
    assert after.seq == before.seq + 1 and after.updated_at == T0


def test_replay_rebuilds_the_state_and_fold_continues_it() -> None:
    run = Run(
        {"id": "a", "type": "http", "url": "https://x"},
        {"id": "w", "type": "wait", "duration": "1m"},
    )
    run.succeed("r1:a:1", status=200)
    assert replay(run.events) == run.run
    assert fold(replay(run.events[:2]), run.events[2:]) == run.run
    assert list(run.run.steps) == ["a", "w"]  # definition order, from run_started alone


def test_events_must_start_with_run_started() -> None:
    with pytest.raises(ValueError, match="needs at least its run_started"):
        replay([])
    with pytest.raises(ValueError, match="cannot come before run_started"):
        evolve(None, ev.StepSkipped(at=T0, step_id="a", reason="x"))
    run = Run({"id": "a", "type": "notify", "message": "x"})
    with pytest.raises(ValueError, match="only be the first event"):
        evolve(run.run, run.events[0])
