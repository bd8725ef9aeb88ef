"""End to end: Slack's Workflow Builder runs Countersign's steps ("Get approval", "Run a
Countersign workflow"): `function_executed` over Socket Mode starts a run, and the run's end
finishes the step with functions.completeSuccess (its outputs) or completeError (one line)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import ids
from bot.function_steps import GET_APPROVAL, RUN_WORKFLOW
from engine import APPROVAL_WORKFLOW
from engine.testing import ManualClock
from tests.fakeslack import FakeSlack
from tests.fakeslack import payloads as p
from tests.slack.harness import TEAM, SlackHarness, SlackUsers, app_process, running_app

ORDER = """
name: order
title: Order
inputs:
  - {id: item, type: text, required: true}
  - {id: amount, type: number, required: true}
  - {id: owner, type: user, required: true}
steps:
  - id: check
    type: approval
    approvers: ["{{ inputs.owner }}"]
outputs:
  - {id: item, value: "{{ inputs.item }}"}
  - {id: decision, value: "{{ steps.check.decision }}"}
  - {id: amount, value: "{{ inputs.amount }}"}
"""
DETAILS = {  # what Workflow Builder sends for a rich text input
    "type": "rich_text",
    "elements": [
        {
            "type": "rich_text_section",
            "elements": [
                {"type": "text", "text": "New laptop for "},
                {"type": "user", "user_id": "UADA"},
                {"type": "text", "text": " — urgent", "style": {"bold": True}},
            ],
        }
    ],
}
_executions = itertools.count(1)


async def run_step(users: SlackUsers, callback_id: str, inputs: dict[str, Any]) -> str:
    """A workflow reaches the step: Slack sends `function_executed`; returns the execution id."""
    execution = f"Fx{next(_executions):04d}"
    token = users.fake.function_token(execution)
    payload = p.function_executed(
        callback_id, inputs, execution_id=execution, bot_access_token=token
    )
    await users.fake.ack(await users.fake.send("events_api", payload))
    return execution


async def ended(fake: FakeSlack, execution: str) -> dict[str, Any]:
    """The step's execution once the app finished it (completeSuccess or completeError)."""
    found: dict[str, Any] = await fake.wait_until(
        lambda: (
            fake.function_executions[execution]["status"] != "running"
            and fake.function_executions[execution]
        )
    )
    return found


def completions(fake: FakeSlack, execution: str) -> list[Any]:
    return [
        c
        for m in ("functions.completeSuccess", "functions.completeError")
        for c in fake.calls_to(m)
        if c.args.get("function_execution_id") == execution and c.response.get("ok")
    ]


async def decide(users: SlackUsers, who: str, action: str, comment: str) -> None:
    card = await users.card(who, action)
    before = len(users.fake.calls_to("views.open"))
    await users.click(who, card, action)
    view = await users.opened_view(who, before)
    await users.submit(who, view, {"comment": comment})


def approval(**inputs: Any) -> dict[str, Any]:
    return {"title": "Laptop for Ada", "details": DETAILS, "requester": "UADA", **inputs}


@pytest.fixture
async def steps(tmp_path: Path) -> AsyncIterator[SlackHarness]:
    async with running_app(tmp_path) as harness:
        await harness.engine.apply_definition(TEAM, ORDER)
        yield harness


async def test_get_approval_approved_continues_the_workflow_with_its_outputs(
    steps: SlackHarness,
) -> None:
    execution = await run_step(steps, GET_APPROVAL, approval(approvers=["UBOB"]))
    card = await steps.card("UBOB")
    assert "Laptop for Ada" in str(card["blocks"])
    # Rich text arrives as mrkdwn, escaped like every input on a card.
    assert "New laptop for &lt;@UADA&gt; *— urgent*" in str(card["blocks"])
    await decide(steps, "UBOB", ids.APPROVE, "fine by me")

    done = await ended(steps.fake, execution)
    assert done["status"] == "completed"
    outputs = done["outputs"]
    assert outputs["decision"] == "approved"
    assert outputs["decided_by"] == ["UBOB"]
    assert outputs["comment"] == "fine by me"
    assert abs(outputs["decided_at"] - datetime.now(UTC).timestamp()) < 600
    # Finished once, with the step's own token; the run is an ordinary approval run.
    [call] = completions(steps.fake, execution)
    assert call.token is not None and call.token.startswith(f"xwfp-{execution}")
    page = await steps.engine.list_runs(TEAM, workflow=APPROVAL_WORKFLOW)
    assert page.runs[0].requester == "UADA" and page.runs[0].status == "completed"


async def test_get_approval_rejected(steps: SlackHarness) -> None:
    execution = await run_step(steps, GET_APPROVAL, approval(approvers=["UBOB", "UCAT"]))
    await decide(steps, "UCAT", ids.REJECT, "no budget left")
    done = await ended(steps.fake, execution)
    assert done["outputs"]["decision"] == "rejected"
    assert done["outputs"]["decided_by"] == ["UCAT"]
    assert done["outputs"]["comment"] == "no budget left"


MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


@pytest.fixture
async def timed(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SlackHarness]:
    async with running_app(tmp_path, clock) as harness:
        yield harness


async def later(slack: SlackHarness, clock: ManualClock, delta: timedelta) -> None:
    clock.advance(delta)
    await slack.engine.run_until_idle()
    await slack.service.settle()


async def test_get_approval_timed_out_gives_the_default_decision_as_expired(
    timed: SlackHarness, clock: ManualClock
) -> None:
    inputs = approval(approvers=["UBOB"], timeout="2h", on_timeout="approve")
    execution = await run_step(timed, GET_APPROVAL, inputs)
    await timed.card("UBOB")
    await later(timed, clock, timedelta(hours=2, minutes=1))
    done = await ended(timed.fake, execution)
    assert done["outputs"]["decision"] == "expired"
    assert done["outputs"]["decided_by"] == []
    timed_out_at = MONDAY + timedelta(hours=2, minutes=1)  # when the timer fired
    assert done["outputs"]["decided_at"] == int(timed_out_at.timestamp())


async def test_get_approval_escalated_is_decided_by_the_escalation(
    timed: SlackHarness, clock: ManualClock
) -> None:
    inputs = approval(approvers=["UBOB"], timeout="2h", escalate_to=["UCAT"])
    execution = await run_step(timed, GET_APPROVAL, inputs)
    await timed.card("UBOB")
    await later(timed, clock, timedelta(hours=2, minutes=1))
    await decide(timed, "UCAT", ids.APPROVE, "escalated, approved")
    done = await ended(timed.fake, execution)
    assert done["outputs"]["decision"] == "approved"
    assert done["outputs"]["decided_by"] == ["UCAT"]


async def test_run_workflow_maps_inputs_by_type_and_name_and_hands_back_its_outputs(
    steps: SlackHarness,
) -> None:
    inputs = {"workflow": "order", "text": "Laptop", "user": "UCAT", "values": "amount: 1200"}
    execution = await run_step(steps, RUN_WORKFLOW, inputs)
    card = await steps.card("UCAT")
    await steps.click("UCAT", card, ids.APPROVE)
    done = await ended(steps.fake, execution)
    assert done["outputs"]["outcome"] == "completed"
    assert json.loads(done["outputs"]["outputs"]) == {
        "item": "Laptop",
        "decision": "approved",
        "amount": "1200",
    }
    page = await steps.engine.list_runs(TEAM, workflow="order")
    assert page.runs[0].inputs == {"item": "Laptop", "amount": 1200, "owner": "UCAT"}


async def test_a_step_waiting_across_a_restart_completes_after_it(tmp_path: Path) -> None:
    """The step's execution and token are in the database: the new process finishes it. An
    interaction in the step's context brings a fresh token, which the completion uses."""
    fake = FakeSlack(team_id=TEAM)
    for user in ("UADA", "UBOB"):
        fake.add_user(user, user)
    await fake.start()
    db = tmp_path / "cs.db"
    try:
        async with app_process(fake, db) as before:
            execution = await run_step(before, GET_APPROVAL, approval(approvers=["UBOB"]))
            card = await before.card("UBOB")
        assert completions(fake, execution) == []  # still waiting when the process stopped
        async with app_process(fake, db) as after:
            fresh = fake.function_token(execution)
            clicked = p.in_function(
                p.block_action("UBOB", card, ids.APPROVE), execution, fresh, approval()
            )
            await fake.ack(await fake.send("interactive", clicked))
            view = await after.opened_view("UBOB")
            await after.submit("UBOB", view, {"comment": "after the restart"})
            done = await ended(fake, execution)
            assert done["outputs"]["comment"] == "after the restart"
            [call] = completions(fake, execution)
            assert call.token == fresh
    finally:
        await fake.stop()


@pytest.mark.parametrize(
    ("callback_id", "inputs", "reason"),
    [
        (
            RUN_WORKFLOW,
            {"workflow": "nope"},
            "Unknown workflow 'nope'; this workspace has: order",
        ),
        (
            RUN_WORKFLOW,
            {"workflow": "order", "text": "Laptop", "user": "UCAT", "values": "amount: lots"},
            "The inputs do not fit: amount: expected a number, got 'lots'",
        ),
        (
            RUN_WORKFLOW,
            {"workflow": "order", "values": "colour: red"},
            "Values: 'colour: red' is not 'name: value' for an input of order "
            "(its inputs: item, amount, owner)",
        ),
        (GET_APPROVAL, approval(), "Pick who approves: people, a user group or a channel"),
        (
            GET_APPROVAL,
            approval(approvers=["UBOB"], policy="3"),
            "The policy needs 3 approvals but only 1 approvers",
        ),
        (
            GET_APPROVAL,
            approval(approvers=["UBOB"], timeout="soon"),
            "Timeout: 'soon' is not a duration: unknown unit 'soon'; use s, m, h, d or w "
            "(e.g. '90s', '15m', '4h', '2 days', '1h30m')",
        ),
    ],
)
async def test_a_step_that_cannot_run_ends_with_one_line_saying_why(
    steps: SlackHarness, callback_id: str, inputs: dict[str, Any], reason: str
) -> None:
    execution = await run_step(steps, callback_id, inputs)
    done = await ended(steps.fake, execution)
    assert done == {"status": "failed", "error": reason}


async def test_approvers_that_cannot_be_resolved_end_the_step_saying_which(
    steps: SlackHarness,
) -> None:
    execution = await run_step(steps, GET_APPROVAL, approval(approver_group="S0404"))
    done = await ended(steps.fake, execution)
    assert done["status"] == "failed"
    assert done["error"] == (
        "The approval ended undecided: step approval failed: could not look up the "
        "approvers: user group S0404 does not exist in this workspace"
    )


async def test_a_cancelled_approval_ends_the_step_with_the_reason(steps: SlackHarness) -> None:
    execution = await run_step(steps, GET_APPROVAL, approval(approvers=["UBOB"]))
    await steps.card("UBOB")
    page = await steps.engine.list_runs(TEAM, workflow=APPROVAL_WORKFLOW)
    await steps.engine.cancel(TEAM, page.runs[0].run_id, "UADMIN", "bought one already", admin=True)
    done = await ended(steps.fake, execution)
    assert done["status"] == "failed"
    assert "bought one already" in done["error"]


async def test_a_channel_as_approvers_asks_its_members(steps: SlackHarness) -> None:
    steps.fake.add_channel("C0LEADS", "leads", ["UCAT", "UDAN"])
    execution = await run_step(steps, GET_APPROVAL, approval(approver_channel="C0LEADS"))
    await decide(steps, "UDAN", ids.APPROVE, "ok")
    done = await ended(steps.fake, execution)
    assert done["outputs"]["decided_by"] == ["UDAN"]


async def test_the_event_delivered_twice_starts_one_run(steps: SlackHarness) -> None:
    execution = f"Fx{next(_executions):04d}"
    token = steps.fake.function_token(execution)
    payload = p.function_executed(
        GET_APPROVAL, approval(approvers=["UBOB"]), execution_id=execution, bot_access_token=token
    )
    first = await steps.fake.send("events_api", payload)
    await steps.fake.ack(first)
    await steps.fake.ack(await steps.fake.replay(first))
    await steps.card("UBOB")
    await steps.service.settle()
    page = await steps.engine.list_runs(TEAM, workflow=APPROVAL_WORKFLOW)
    assert len(page.runs) == 1


async def test_a_step_whose_own_token_expired_is_finished_with_the_bot_token(
    steps: SlackHarness,
) -> None:
    execution = await run_step(steps, GET_APPROVAL, approval(approvers=["UBOB"]))
    card = await steps.card("UBOB")
    for token in [t for t in steps.fake.teams if t.startswith(f"xwfp-{execution}")]:
        steps.fake.revoke_token(token)
    await steps.click("UBOB", card, ids.REJECT)
    await steps.submit("UBOB", await steps.opened_view("UBOB"), {"comment": "no"})
    done = await ended(steps.fake, execution)
    assert done["outputs"]["decision"] == "rejected"
    [call] = completions(steps.fake, execution)  # the refused attempt aside
    assert call.token == steps.fake.bot_token
