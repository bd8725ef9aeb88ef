"""The refusals of the shared tables (tests/refusal_cases.py) through Slack (real Bolt against
the fake Slack): a click on a card gets an ephemeral message worded by the refusal's code (a
slash command, its reply), no form opens, and nothing is recorded."""

from __future__ import annotations

import pytest

from bot.blocks import ids
from tests.refusal_cases import (
    CASES,
    IDS,
    INPUT_CASES,
    INPUT_IDS,
    Case,
    HandoffCase,
    InputCase,
    People,
    handoff_cases,
    handoff_ids,
    input_unchanged,
    prepare,
    prepare_input,
    submit_before,
    unchanged,
    vote_before,
)
from tests.slack.harness import TEAM, SlackHarness

PEOPLE = People(requester="UADA", a="UBOB", b="UCAT", stranger="UEVE")
EPHEMERAL = {
    "not_approver": "You are not one of the approvers of this step",
    "already_voted": "You already approved this; nothing changed.",
    "closed": "This request is closed (approved); your click changed nothing.",
    "own_request": "You cannot decide on your own request. Nothing changed.",
}


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_click_is_told_the_refusal_code(slack: SlackHarness, case: Case) -> None:
    run_id, actor = await prepare(slack.engine, TEAM, PEOPLE, case, running=True)
    # The clicker's own card, or (not asked) an approver's card they can see.
    card = await slack.card(actor if actor in (PEOPLE.a, PEOPLE.b) else PEOPLE.b)
    await vote_before(slack.engine, TEAM, run_id, PEOPLE, case)
    await slack.click(actor, card, ids.APPROVE)
    await slack.ephemeral_to(actor, EPHEMERAL[case.code])
    await unchanged(slack.engine, TEAM, run_id, case)


HANDOFF_EPHEMERAL = {
    "not_approver": "This request is not waiting on you, so you cannot hand it on or ask",
    "already_voted": "You already decided this; nothing to hand on.",
    "closed": "This request is closed (approved); nothing to do.",
}
BUTTON = {"delegate": ids.DELEGATE, "ask": ids.ASK}


@pytest.mark.parametrize("case", handoff_cases("slack"), ids=handoff_ids("slack"))
async def test_a_handoff_is_told_the_refusal_code(slack: SlackHarness, case: HandoffCase) -> None:
    run_id, actor = await prepare(slack.engine, TEAM, PEOPLE, case, running=True)
    if case.action == "reassign":  # the slash command (the status page's button opens alike)
        await slack.card(PEOPLE.b)
        told = await slack.reply(actor, f"reassign {run_id} review <@UBOB|bob> <@UEVE|eve>")
        assert "Only Countersign admins can reassign requests" in told["text"]
    else:
        card = await slack.card(actor if actor in (PEOPLE.a, PEOPLE.b) else PEOPLE.b)
        await vote_before(slack.engine, TEAM, run_id, PEOPLE, case)
        await slack.click(actor, card, BUTTON[case.action])
        await slack.ephemeral_to(actor, HANDOFF_EPHEMERAL[case.code])
    assert not slack.fake.calls_to("views.open")  # no form was opened
    await unchanged(slack.engine, TEAM, run_id, case)


INPUT_EPHEMERAL = {
    "not_assignee": "This form is assigned to someone else.",
    "closed": "This form was already submitted or closed; nothing to do.",
}


@pytest.mark.parametrize("case", INPUT_CASES, ids=INPUT_IDS)
async def test_an_input_form_click_is_told_the_refusal_code(
    slack: SlackHarness, case: InputCase
) -> None:
    run_id, actor = await prepare_input(slack.engine, TEAM, PEOPLE, case, running=True)
    card = await slack.card(PEOPLE.a, ids.OPEN_INPUT)
    await submit_before(slack.engine, TEAM, run_id, PEOPLE, case)
    await slack.click(actor, card, ids.OPEN_INPUT)
    await slack.ephemeral_to(actor, INPUT_EPHEMERAL[case.code])
    assert not slack.fake.calls_to("views.open")
    await input_unchanged(slack.engine, TEAM, run_id, case)
