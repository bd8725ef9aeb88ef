"""The decider walks a run through its steps: each step type, conditions, the run's end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import commands as cmd
from engine import triggers as tr
from engine.errors import InvalidInput, NotAllowed, NotFound, RunFinished, StepNotPending
from tests.engine.harness import REQUESTER, T0, Run

HTTP = {"id": "book", "type": "http", "url": "https://erp.example/{{ inputs.n }}"}


def test_http_step_calls_and_its_response_reaches_the_next_step() -> None:
    run = Run(
        HTTP,
        {"id": "tell", "type": "notify", "message": "booked {{ steps.book.response.id }}"},
        inputs={"n": 7},
    )
    assert run.types() == ["run_started", "step_started"]
    [call] = run.commands(cmd.CallHttp)
    assert call.key == "r1:book:1" and call.attempt == 1 and not call.compensation
    assert call.action.url == "https://erp.example/{{ inputs.n }}"  # rendered at dispatch
    assert call.context["inputs"] == {"n": 7} and call.context["requester"] == REQUESTER
    assert run.run.current_step == "book" and run.status("book") == "running"

    run.succeed("r1:book:1", status=201, response={"id": "B-9"})
    assert run.run.steps["book"].output == {"status": 201, "response": {"id": "B-9"}}
    [note] = run.commands(cmd.SendNotification)
    assert (note.to, note.text, note.key) == (REQUESTER, "booked B-9", "r1:tell:1")

    run.succeed("r1:tell:1")
    assert run.types() == ["step_completed", "run_finished"]
    assert run.run.status == "completed" and run.run.finished_at == T0
    [changed] = run.commands(cmd.RunChanged)
    assert changed.final and changed.status == "completed"


def test_every_status_or_step_change_tells_the_requester() -> None:
    run = Run(HTTP, {"id": "two", "type": "http", "url": "https://x"})
    assert [c.status for c in run.commands(cmd.RunChanged)] == ["running"]
    run.succeed("r1:book:1", status=200)
    assert len(run.commands(cmd.RunChanged)) == 1  # current step moved to "two"
    run.fail("r1:two:1", reason="5xx")  # retry armed: nothing the requester sees changes
    assert run.commands(cmd.RunChanged) == []


def test_false_condition_skips_the_step_and_true_one_runs_it() -> None:
    run = Run(
        {"id": "big", "type": "notify", "message": "big", "when": "inputs.amount > 100"},
        {"id": "small", "type": "notify", "message": "small", "when": "inputs.amount <= 100"},
        inputs={"amount": 50},
    )
    assert run.types() == ["run_started", "step_skipped", "step_started"]
    assert run.status("big") == "skipped" and run.run.current_step == "small"
    run.succeed("r1:small:1")
    assert run.run.status == "completed"


def test_condition_that_cannot_be_evaluated_fails_the_run_with_the_reason() -> None:
    run = Run({"id": "a", "type": "notify", "message": "x", "when": "inputs.missing > 1"})
    assert run.run.status == "failed"
    assert "missing" in (run.run.steps["a"].error or "")
    assert run.run.reason.startswith("step a failed:")


def test_all_steps_skipped_completes_the_run_at_once() -> None:
    run = Run({"id": "a", "type": "notify", "message": "x", "when": "false"})
    assert run.types() == ["run_started", "step_skipped", "run_finished"]
    assert run.run.status == "completed"


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("requester", REQUESTER),
        ("U777", "U777"),
        ("#ops", "#ops"),
        ("ann@example.com", "email:ann@example.com"),
        ("{{ inputs.who }}", "U555"),
    ],
)
def test_notify_recipient_is_resolved(to: str, expected: str) -> None:
    run = Run({"id": "n", "type": "notify", "to": to, "message": "hi"}, inputs={"who": "U555"})
    assert run.commands(cmd.SendNotification)[0].to == expected


def test_wait_step_arms_a_timer_and_goes_on_when_it_fires() -> None:
    run = Run({"id": "w", "type": "wait", "duration": "2h"}, HTTP, inputs={"n": 1})
    timer = run.timer("wait")
    assert timer.id == "r1:w:wait" and timer.due_at == T0 + timedelta(hours=2)
    assert run.status("w") == "waiting" and run.run.steps["w"].waiting_until == timer.due_at
    run.fire(timer)
    assert run.types() == ["step_completed", "step_started"]
    assert run.fire(timer).events == []  # fired again: stale


def test_wait_until_a_rendered_time_in_the_past_goes_on_at_once() -> None:
    run = Run({"id": "w", "type": "wait", "until": "{{ inputs.at }}"}, inputs={"at": "2029-01-01"})
    assert run.types() == ["run_started", "wait_started", "step_completed", "run_finished"]


def test_wait_until_garbage_fails_with_what_was_expected() -> None:
    run = Run({"id": "w", "type": "wait", "until": "{{ inputs.at }}"}, inputs={"at": "soon"})
    assert "ISO 8601" in (run.run.steps["w"].error or "")


def test_signal_step_completes_with_the_payload() -> None:
    run = Run({"id": "paid", "type": "signal", "name": "payment"})
    assert run.types()[-1] == "signal_awaited" and run.status("paid") == "waiting"
    with pytest.raises(StepNotPending, match="signal 'other'"):
        run.do(tr.Signal(name="other"))
    run.do(tr.Signal(name="payment", payload={"ref": 1}))
    assert run.run.steps["paid"].output == {"payload": {"ref": 1}}
    assert run.run.status == "completed"
    assert run.do(tr.Signal(name="payment", payload={"ref": 1})).events == []  # delivered twice
    with pytest.raises(RunFinished):
        run.do(tr.Signal(name="payment", payload={"ref": 2}))


def test_signal_timeout_fails_the_step() -> None:
    run = Run({"id": "paid", "type": "signal", "timeout": "1d"})
    run.fire(run.timer("timeout"))
    assert run.types()[:2] == ["step_timed_out", "step_failed"]
    assert run.run.steps["paid"].error == "no signal 'paid' within 1d"


INPUT = {
    "id": "ticket",
    "type": "input",
    "assignee": "{{ inputs.owner }}",
    "fields": [{"id": "ref", "required": True}, {"id": "n", "type": "number", "max": 5}],
}


def test_input_step_asks_the_assignee_and_keeps_the_values() -> None:
    run = Run(INPUT, inputs={"owner": "U9"})
    [ask] = run.commands(cmd.RequestInput)
    assert (ask.assignee, ask.kind) == ("U9", "request")
    assert run.run.waiting_on() == [("ticket", "U9")]
    submit = tr.SubmitInput(step_id="ticket", actor="U8", values={"ref": "X"}, channel="web")
    with pytest.raises(NotAllowed, match="not the assignee"):
        run.do(submit)
    with pytest.raises(InvalidInput) as bad:
        run.do(submit.model_copy(update={"actor": "U9", "values": {"n": 9}}))
    assert set(bad.value.errors) == {"ref", "n"}
    run.do(submit.model_copy(update={"actor": "U9"}))
    # Whichever channel took the form, every card of the step is told it closed.
    assert [c.step_id for c in run.commands(cmd.UpdateApproval)] == ["ticket"]
    assert run.run.steps["ticket"].output == {
        "values": {"ref": "X", "n": None},
        "submitted_by": "U9",
    }
    assert run.run.status == "completed"
    assert run.do(submit.model_copy(update={"actor": "U9"})).events == []  # same values again


def test_an_operator_can_fill_in_an_input_for_the_assignee() -> None:
    run = Run(INPUT, inputs={"owner": "ann@example.com"})
    assert run.commands(cmd.RequestInput)[0].assignee == "email:ann@example.com"
    run.do(
        tr.SubmitInput(
            step_id="ticket",
            actor="Uops",
            values={"ref": "X"},
            channel="cli",
            override=True,
            admin=True,
        )
    )
    assert run.events[-3].override  # type: ignore[union-attr]
    assert run.run.status == "completed"
    assert [c.step_id for c in run.commands(cmd.UpdateApproval)] == ["ticket"]


def test_input_without_answer_times_out_and_reminds_meanwhile() -> None:
    step = {**INPUT, "remind_every": "1h", "max_reminders": 1, "timeout": "4h"}
    run = Run(step, inputs={"owner": "U9"})
    reminder, timeout = run.timer("reminder"), run.timer("timeout")
    run.fire(reminder)
    assert run.commands(cmd.RequestInput)[0].kind == "reminder"
    assert run.last.timers == []  # max_reminders reached
    run.fire(timeout)
    assert run.run.steps["ticket"].error == "no input within 4h"
    assert [c.step_id for c in run.commands(cmd.UpdateApproval)] == ["ticket"]  # card closes
    assert run.run.status == "failed"


def test_unknown_step_and_unknown_run_are_refused() -> None:
    run = Run(INPUT, inputs={"owner": "U9"})
    with pytest.raises(NotFound, match="no step 'nope'"):
        run.vote("nope", "U9")
    with pytest.raises(StepNotPending, match="not an approval step"):
        run.vote("ticket", "U9")
    from engine.decider import decide

    with pytest.raises(NotFound):
        decide(run.definition, None, tr.Cancel(actor="U1"), T0)


def test_starting_an_existing_run_again_changes_nothing() -> None:
    run = Run(HTTP, inputs={"n": 1})
    again = tr.StartRun(run_id="r1", tenant_id="T1", requester=REQUESTER, inputs={})
    assert not run.do(again)


def test_notify_to_an_empty_recipient_fails_the_step() -> None:
    step = {"id": "n", "type": "notify", "to": "{{ inputs.who }}", "message": "hi"}
    run = Run(step, inputs={"who": ""})
    assert run.run.steps["n"].error == "the recipient '{{ inputs.who }}' rendered to nothing"
