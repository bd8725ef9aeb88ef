"""Every step type end to end, through the real dispatcher, timers and a local HTTP service."""

from __future__ import annotations

from datetime import timedelta

from engine.commands import Command, SendNotification
from engine.ports import Outcome, Succeeded
from engine.runtime.service import Engine
from engine.testing import ManualClock
from tests.runtime.conftest import TENANT, Target, setup, statuses


class Recorder:
    """A channel that records what it was asked to show."""

    def __init__(self) -> None:
        self.got: list[Command] = []

    async def perform(self, command: Command) -> Outcome:
        self.got.append(command)
        return Succeeded()


EVERY_STEP = """
name: everything
inputs:
  - {id: amount, type: number, required: true}
  - {id: manager, type: user, required: true}
steps:
  - id: approve
    type: approval
    approvers: ["{{ inputs.manager }}"]
  - id: details
    type: input
    assignee: "{{ requester }}"
    fields:
      - {id: ticket, type: text, required: true}
  - id: book
    type: http
    url: TARGET/book
    headers: {Authorization: "Bearer {{ secrets.TOKEN }}"}
    json: {amount: "{{ inputs.amount }}", ticket: "{{ steps.details['values'].ticket }}"}
    expect: [200]
  - id: pause
    type: wait
    duration: 1h
  - id: callback
    type: signal
    name: shipped
  - id: tell
    type: notify
    message: "Booked {{ steps.book.response.id }}, tracking {{ steps.callback.payload.tracking }}"
"""


async def test_every_step_type_runs_to_completion(
    engine: Engine, target: Target, clock: ManualClock
) -> None:
    await setup(engine, target, EVERY_STEP)
    slack = Recorder()
    engine.router.register("slack", slack)
    inputs = {"amount": "12.5", "manager": "UMGR"}
    run = await engine.start_run(TENANT, "everything", inputs, "UREQ")
    await engine.run_until_idle()
    assert [(t.step_id, t.principal) for t in await engine.pending_for(TENANT, "UMGR")] == [
        ("approve", "UMGR")
    ]

    await engine.decide(TENANT, run.run_id, "approve", "UMGR", "approve", channel="slack")
    await engine.run_until_idle()
    run = await engine.submit_input(TENANT, run.run_id, "details", "UREQ", {"ticket": "CHG-7"})
    await engine.run_until_idle()

    assert target.paths() == ["POST /book"]
    sent = target.requests[0]
    assert sent.body == {"amount": "12.5", "ticket": "CHG-7"}
    assert sent.headers["Authorization"] == "Bearer s3cret"
    assert sent.key == f"{run.run_id}:book:1"
    run = await engine.get_run(TENANT, run.run_id)
    assert run.steps["book"].output == {
        "status": 200,
        "response": {"id": "x1", "path": "/book", "got": sent.body},
    }
    assert run.steps["pause"].status == "waiting"

    clock.advance(timedelta(minutes=59))
    assert await engine.run_until_idle() == 0  # the wait is not over yet
    clock.advance(timedelta(minutes=1))
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert statuses(run)["pause"] == "completed"
    assert statuses(run)["callback"] == "waiting"

    await engine.signal(TENANT, run.run_id, "shipped", {"tracking": "TRK1"})
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "completed"
    assert set(statuses(run).values()) == {"completed"}
    asked = [
        (c.type, getattr(c, "approver", None) or getattr(c, "assignee", None)) for c in slack.got
    ]
    assert ("request_approval", "UMGR") in asked and ("request_input", "UREQ") in asked
    notes = [c for c in slack.got if isinstance(c, SendNotification)]
    assert [(n.to, n.text) for n in notes] == [("UREQ", "Booked x1, tracking TRK1")]


CONDITIONAL = """
name: conditional
inputs:
  - {id: amount, type: number, required: true}
steps:
  - id: small
    type: http
    when: inputs.amount < 1000
    url: TARGET/small
  - id: large
    type: http
    when: inputs.amount >= 1000
    url: TARGET/large
  - id: after
    type: http
    when: inputs.amount >= 1000 and steps.large.status == 200
    url: TARGET/after
"""


async def test_conditions_pick_the_steps_that_run(engine: Engine, target: Target) -> None:
    await setup(engine, target, CONDITIONAL)
    small = await engine.start_run(TENANT, "conditional", {"amount": 10}, "UREQ")
    await engine.run_until_idle()
    large = await engine.start_run(TENANT, "conditional", {"amount": 5000}, "UREQ")
    await engine.run_until_idle()

    assert target.paths() == ["POST /small", "POST /large", "POST /after"]
    small = await engine.get_run(TENANT, small.run_id)
    large = await engine.get_run(TENANT, large.run_id)
    assert small.status == large.status == "completed"
    assert statuses(small) == {"small": "completed", "large": "skipped", "after": "skipped"}
    assert statuses(large) == {"small": "skipped", "large": "completed", "after": "completed"}


async def test_subscribers_see_every_committed_change(engine: Engine, target: Target) -> None:
    await setup(engine, target, CONDITIONAL)
    seen: list[tuple[str, int, list[str]]] = []

    async def listener(state, events) -> None:  # type: ignore[no-untyped-def]
        seen.append((state.run_id, state.seq, [e.type for e in events]))

    engine.subscribe(listener)
    run = await engine.start_run(TENANT, "conditional", {"amount": 10}, "UREQ")
    await engine.run_until_idle()
    engine.unsubscribe(listener)

    assert [s[0] for s in seen] == [run.run_id] * len(seen)
    seqs = [s[1] for s in seen]
    assert seqs == sorted(seqs) and seqs[-1] == (await engine.get_run(TENANT, run.run_id)).seq
    assert seen[0][2][0] == "run_started"
    assert seen[-1][2][-1] == "run_finished"
