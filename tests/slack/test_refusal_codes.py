"""The refusals of the shared table (tests/refusal_cases.py) through Slack (real Bolt against
the fake Slack): a click on a card gets an ephemeral message worded by the refusal's code, and
nothing is recorded."""

from __future__ import annotations

import pytest

from bot.blocks import ids
from tests.refusal_cases import CASES, IDS, Case, People, prepare, unchanged, vote_before
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
