"""The saga: completed steps with `compensate` are undone newest first after a failure, a
rejection or a cancel; a compensation that fails for good is never silent."""

from __future__ import annotations

from typing import Any

import pytest

from engine import commands as cmd
from engine import triggers as tr
from engine.errors import NotAllowed, RunFinished
from tests.engine.harness import Run


def booking(step_id: str, **comp_retry: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "http",
        "url": f"https://erp/{step_id}",
        "compensate": {
            "method": "DELETE",
            "url": f"https://erp/{step_id}/{{{{ steps.{step_id}.response.id }}}}",
            "retry": {"initial_delay": "5s", "jitter": False, **comp_retry},
        },
    }


PLAIN = {"id": "plain", "type": "notify", "message": "no undo"}
FAILING = {"id": "last", "type": "http", "url": "https://x", "retry": {"max_attempts": 1}}
APPROVAL = {"id": "ok", "type": "approval", "approvers": ["U1"]}


def run_through(run: Run, *step_ids: str) -> None:
    for step_id in step_ids:
        run.succeed(f"r1:{step_id}:1", status=200, response={"id": f"{step_id}-1"})


def test_failure_undoes_completed_steps_newest_first() -> None:
    run = Run(booking("a"), PLAIN, booking("b"), FAILING)
    run_through(run, "a", "plain", "b")
    run.fail("r1:last:1", error="HTTP 500")
    assert run.types() == [
        "attempt_failed",
        "step_failed",
        "compensation_started",
        "compensation_attempt_started",
    ]
    assert run.last.events[2].steps == ["b", "a"]  # type: ignore[union-attr]
    assert run.run.status == "compensating" and run.run.current_step == "b"
    [undo] = run.commands(cmd.CallHttp)
    assert (undo.key, undo.compensation, undo.action.method) == ("r1:b:comp:1", True, "DELETE")
    assert undo.context["steps"]["b"]["response"] == {"id": "b-1"}

    run.succeed("r1:b:comp:1")
    assert run.types() == ["step_compensated", "compensation_attempt_started"]
    assert run.commands(cmd.CallHttp)[0].key == "r1:a:comp:1"
    run.succeed("r1:a:comp:1")
    assert run.types() == ["step_compensated", "run_finished"]
    assert run.run.status == "failed"
    assert run.run.reason == "step last failed: HTTP 500"
    assert [run.status(s) for s in ("a", "plain", "b", "last")] == [
        "compensated",
        "completed",
        "compensated",
        "failed",
    ]


def test_rejection_undoes_completed_steps_then_ends_rejected() -> None:
    run = Run(booking("a"), booking("b"), APPROVAL, booking("c"))
    run_through(run, "a", "b")
    run.vote("ok", "U1", "reject")
    assert run.last.events[-2].steps == ["b", "a"]  # type: ignore[union-attr]
    run.succeed("r1:b:comp:1")
    run.succeed("r1:a:comp:1")
    assert run.run.status == "rejected"
    assert run.run.reason == "step ok was rejected by U1"
    assert run.status("c") == "pending"


def test_nothing_to_undo_finishes_directly() -> None:
    run = Run(PLAIN, FAILING)
    run_through(run, "plain")
    run.fail("r1:last:1", error="HTTP 500")
    assert run.types() == ["attempt_failed", "step_failed", "run_finished"]


def test_compensation_retries_then_fails_for_good_and_the_others_still_run() -> None:
    run = Run(booking("a"), booking("b", max_attempts=2), FAILING)
    run_through(run, "a", "b")
    run.fail("r1:last:1")
    run.fail("r1:b:comp:1", error="HTTP 503", reason="503")
    assert run.types() == ["attempt_failed"]
    assert run.last.events[0].compensation  # type: ignore[union-attr]
    timer = run.timer("compensation_retry")
    assert timer.id == "r1:b:compensation_retry:2"
    assert not run.fail("r1:b:comp:1")  # no longer in flight
    run.fire(timer)
    assert run.commands(cmd.CallHttp)[0].key == "r1:b:comp:2"
    assert not run.fire(timer)
    run.fail("r1:b:comp:2", error="HTTP 503", reason="503")
    assert run.types() == [
        "attempt_failed",
        "step_compensation_failed",
        "compensation_attempt_started",
    ]
    assert run.run.steps["b"].error == "HTTP 503 (gave up after 2 attempts)"
    run.succeed("r1:a:comp:1")
    assert run.run.status == "compensation_failed"
    assert run.run.reason.endswith("; compensation failed for b")
    assert run.status("b") == "compensation_failed" and run.status("a") == "compensated"


def test_cancel_waits_for_the_in_flight_call_then_undoes_it() -> None:
    run = Run(booking("a"), booking("b"), PLAIN)
    run_through(run, "a")
    run.do(tr.Cancel(actor="UREQ", reason="changed my mind", channel="slack"))
    assert run.types() == ["cancel_requested"]  # b is in flight: its outcome decides
    assert run.run.cancel_requested and run.run.status == "running"
    assert not run.do(tr.Cancel(actor="UREQ"))  # asked twice
    run.succeed("r1:b:1", status=200, response={"id": "b-1"})
    assert run.types()[:3] == [
        "step_completed",
        "compensation_started",
        "compensation_attempt_started",
    ]
    assert run.last.events[1].cause == "cancelled"  # type: ignore[union-attr]
    assert run.last.events[1].steps == ["b", "a"]  # type: ignore[union-attr]
    run.succeed("r1:b:comp:1")
    run.succeed("r1:a:comp:1")
    assert run.run.status == "cancelled"
    assert run.run.reason == "cancelled by UREQ: changed my mind"
    assert run.status("plain") == "pending"


def test_cancel_with_a_failing_in_flight_call_does_not_retry() -> None:
    run = Run(booking("a"), booking("b"))
    run_through(run, "a")
    run.do(tr.Cancel(actor="UREQ"))
    run.fail("r1:b:1", reason="5xx")
    assert run.types()[:3] == ["attempt_failed", "step_failed", "compensation_started"]
    assert run.last.timers == []
    run.succeed("r1:a:comp:1")
    assert run.run.status == "cancelled"


def test_cancel_while_waiting_for_a_person() -> None:
    step = {**APPROVAL, "timeout": "1d", "remind_every": "1h"}
    run = Run(booking("a"), step)
    run_through(run, "a")
    with pytest.raises(NotAllowed) as refused:  # only the requester or an admin
        run.do(tr.Cancel(actor="Uops", channel="cli"))
    assert refused.value.code == "not_admin" and refused.value.facts["requester"] == "UREQ"
    run.do(tr.Cancel(actor="Uops", channel="cli", admin=True))
    assert run.status("ok") == "cancelled"
    assert set(run.last.cancel_timers) == {"r1:ok:timeout:0", "r1:ok:reminder:0.1"}
    assert [c.step_id for c in run.commands(cmd.UpdateApproval)] == ["ok"]
    assert run.run.waiting_on() == []
    run.succeed("r1:a:comp:1")
    assert run.run.status == "cancelled"
    [changed] = run.commands(cmd.RunChanged)
    assert changed.final


def test_cancel_during_a_retry_wait_stops_the_retries() -> None:
    run = Run({"id": "x", "type": "http", "url": "https://x"})
    run.fail("r1:x:1", reason="5xx")
    run.do(tr.Cancel(actor="UREQ"))
    assert run.status("x") == "cancelled" and run.run.status == "cancelled"
    assert "r1:x:retry:2" in run.last.cancel_timers


def test_cancel_of_a_finished_run_is_refused() -> None:
    run = Run(PLAIN)
    run_through(run, "plain")
    with pytest.raises(RunFinished, match=r"already finished \(completed\)"):
        run.do(tr.Cancel(actor="UREQ"))


def test_finished_run_gets_no_new_events() -> None:
    run = Run(booking("a"), FAILING)
    run_through(run, "a")
    run.fail("r1:last:1")
    run.succeed("r1:a:comp:1")
    seq = run.run.seq
    for trigger in (
        tr.CommandSucceeded(command_key="r1:a:comp:1"),
        tr.CommandFailed(command_key="r1:last:1", error="x"),
    ):
        assert not run.do(trigger)
    assert run.run.seq == seq == len(run.events)


def test_cancel_during_compensation_is_recorded_and_the_saga_goes_on() -> None:
    run = Run(booking("a"), FAILING)
    run_through(run, "a")
    run.fail("r1:last:1")
    run.do(tr.Cancel(actor="UREQ"))
    assert run.types() == ["cancel_requested"] and run.run.status == "compensating"
    run.succeed("r1:a:comp:1")
    assert run.run.status == "failed"
