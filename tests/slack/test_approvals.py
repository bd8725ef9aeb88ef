"""End to end: starting a run from Slack and deciding approvals from DMs."""

from __future__ import annotations

import json

from bot.blocks import ids
from tests.slack.harness import TEAM, SlackHarness


async def test_start_from_the_slash_command_through_its_modal(slack: SlackHarness) -> None:
    await slack.command("UADA", "start purchase")
    view = await slack.opened_view("UADA")
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["item", "amount"]

    bad = await slack.submit("UADA", view, {"item": "Laptop", "amount": "0"})
    assert bad.ack_payload == {
        "response_action": "errors",
        "errors": {"amount": "must be at least 1"},
    }
    ok = await slack.submit("UADA", view, {"item": "Laptop", "amount": "1200"})
    assert not ok.ack_payload
    await slack.service.settle()  # the run starts after the ack
    page = await slack.engine.list_runs(TEAM, requester="UADA")
    assert [r.workflow for r in page.runs] == ["purchase"]
    assert page.runs[0].inputs == {"item": "Laptop", "amount": 1200}
    # The requester's message, then every approver's card.
    await slack.card_in(slack.fake.dm_channel("UADA"), "Purchase")
    for approver in ("UBOB", "UCAT", "UDAN"):
        card = await slack.card(approver)
        assert "Laptop" in str(card["blocks"])


async def test_two_of_three_approve_from_their_dms(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Desk", "amount": 300}, "UADA")
    bob, cat, dan = [await slack.card(u) for u in ("UBOB", "UCAT", "UDAN")]
    await slack.click("UBOB", bob, ids.APPROVE)
    await slack.fake.wait_until(
        lambda: (
            "1 of 2 approvals" in str(slack.fake.messages[(dan["channel"], dan["ts"])]["blocks"])
        )
    )
    await slack.click("UCAT", cat, ids.APPROVE)
    done = await slack.run_reaches(run.run_id, "completed")
    assert done.steps["managers"].outcome == "approved"

    def all_closed() -> bool:
        cards = [slack.fake.messages[(c["channel"], c["ts"])] for c in (bob, cat, dan)]
        return all(
            "Approved" in str(c["blocks"]) and ids.APPROVE not in str(c["blocks"]) for c in cards
        )

    await slack.fake.wait_until(all_closed)
    # A click on Dan's stale card changes nothing and says so.
    await slack.click("UDAN", dan, ids.APPROVE)
    await slack.ephemeral_to("UDAN", "closed")
    assert len((await slack.engine.get_run(TEAM, run.run_id)).steps["managers"].votes) == 2


async def test_reject_needs_a_reason(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "prod db"}, "UADA")
    card = await slack.card("UBOB", ids.REJECT)
    await slack.click("UBOB", card, ids.REJECT)
    view = await slack.opened_view("UBOB")
    empty = await slack.submit("UBOB", view, {})
    assert empty.ack_payload == {"response_action": "errors", "errors": {"reason": "required"}}
    await slack.submit("UBOB", view, {"reason": "not <!channel> today"})
    done = await slack.run_reaches(run.run_id, "rejected")
    assert done.steps["owner"].votes[0].fields == {"reason": "not <!channel> today"}
    closed = await slack.card_in(slack.fake.dm_channel("UBOB"), "Rejected")
    assert "not &lt;!channel&gt; today" in str(closed["blocks"])


async def test_double_click_is_harmless(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Pen", "amount": 2}, "UADA")
    card = await slack.card("UBOB")
    await slack.click("UBOB", card, ids.APPROVE)
    await slack.fake.wait_until(lambda: slack.fake.calls_to("chat.update"))
    await slack.click("UBOB", card, ids.APPROVE)
    await slack.ephemeral_to("UBOB", "already approved")
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert [v.actor for v in state.steps["managers"].votes] == ["UBOB"]


async def test_a_modal_opened_before_its_metadata_had_words_still_submits(
    slack: SlackHarness,
) -> None:
    """Modals now carry {"workflow", "version"}; one opened before that, still on a screen,
    carries {"w", "v"} and must start the run all the same."""
    await slack.command("UADA", "start purchase")
    view = await slack.opened_view("UADA")
    assert json.loads(view["private_metadata"]) == {"workflow": "purchase", "version": 1}
    view["private_metadata"] = json.dumps({"w": "purchase", "v": 1})
    ok = await slack.submit("UADA", view, {"item": "Chair", "amount": "90"})
    assert not ok.ack_payload
    await slack.service.settle()  # the run starts after the ack
    page = await slack.engine.list_runs(TEAM, requester="UADA")
    assert [r.inputs for r in page.runs] == [{"item": "Chair", "amount": 90}]
