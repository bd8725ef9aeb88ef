"""A template that tries to change run data, or to do too much work, fails its step with a
reason and ends the run; it neither changes the run nor keeps the decider busy."""

from __future__ import annotations

from engine import commands as cmd
from engine import events as ev
from tests.engine.harness import Run

MUTATE = "{% set i = inputs %}{{ i.update({'amount': 99999}) or '' }}paid {{ inputs.amount }}"
LOOPS = (
    "{% set l = range(1000)|list %}"
    "{% for a in l %}{% for b in l %}{% for c in l %}x{% endfor %}{% endfor %}{% endfor %}"
)


def failure(run: Run, step: str) -> str:
    [failed] = [e for e in run.events if isinstance(e, ev.StepFailed) and e.step_id == step]
    return failed.error


def test_a_template_cannot_change_the_runs_inputs() -> None:
    run = Run(
        {"id": "tell", "type": "notify", "message": MUTATE},
        {"id": "book", "type": "http", "url": "https://erp.example/{{ inputs.amount }}"},
        inputs={"amount": 120},
    )
    assert run.run.inputs == {"amount": 120}
    stored = run.all[0].state  # what the runtime saves, and the API shows
    assert stored is not None and stored.inputs == {"amount": 120}
    [started] = [e for e in run.events if isinstance(e, ev.RunStarted)]
    assert started.inputs == {"amount": 120}
    assert "access to attribute 'update'" in failure(run, "tell")
    assert run.run.status == "failed" and run.commands(cmd.CallHttp) == []


def test_a_condition_cannot_change_the_runs_inputs_either() -> None:
    run = Run(
        {"id": "tell", "type": "notify", "message": "hi", "when": "inputs.update({'a': 1}) or 1"},
        inputs={"amount": 120},
    )
    assert run.run.inputs == {"amount": 120} and run.run.status == "failed"


def test_nested_loops_behind_a_wait_fail_the_step_when_it_starts() -> None:
    run = Run(
        {"id": "pause", "type": "wait", "duration": "1h"},
        {"id": "tell", "type": "notify", "message": LOOPS},
    )
    run.fire(run.timer("wait"))
    assert run.status("tell") == "failed" and run.run.status == "failed"
    assert "loops ran more than 10,000 times" in failure(run, "tell")
    assert run.commands(cmd.SendNotification) == []
