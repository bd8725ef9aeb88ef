"""A click is acknowledged before the engine hears of it; what the clicker must learn afterwards
comes as a message only they see, or as the card's update.

The order is read from the fake Slack's one sequence of calls and acks (`order`), and from the
engine's own notification of the recorded decision: no timings.
"""

from __future__ import annotations

from typing import Any

from bot.blocks import ids
from engine import DecisionRecorded, Event, RunState
from tests.fakeslack import ApiCall, Envelope
from tests.fakeslack import payloads as p
from tests.slack.harness import TEAM, SlackHarness

ITEM = {"item": "Laptop", "amount": 1200}


async def shows_vote(slack: SlackHarness, card: dict[str, Any], user: str) -> ApiCall:
    """The chat.update that shows `user`'s approval on `card`."""

    def voted(c: ApiCall) -> bool:
        return c.args.get("ts") == card["ts"] and f"<@{user}> approved" in str(c.args["blocks"])

    return (await slack.fake.wait_for_call("chat.update", voted))[0]


async def test_a_click_is_acked_before_its_decision_is_recorded(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", ITEM, "UADA")
    card = await slack.card("UBOB")
    sent: list[Envelope] = []
    acked_when_recorded: list[bool] = []

    async def recorded(state: RunState, events: list[Event]) -> None:
        if state.run_id == run.run_id and any(isinstance(e, DecisionRecorded) for e in events):
            acked_when_recorded.append(sent[0].acked.is_set())

    slack.engine.subscribe(recorded)
    try:
        sent.append(await slack.fake.send("interactive", p.block_action("UBOB", card, ids.APPROVE)))
        await slack.fake.ack(sent[0])
        # The card shows the vote through an update that comes after the ack.
        update = await shows_vote(slack, card, "UBOB")
    finally:
        slack.engine.unsubscribe(recorded)
    assert acked_when_recorded == [True]
    assert sent[0].ack_payload is None  # a plain ack: nothing waits on the decision
    assert sent[0].acked_order is not None and update.order > sent[0].acked_order


async def test_a_refusal_comes_after_the_ack_as_an_ephemeral_message(
    slack: SlackHarness,
) -> None:
    await slack.engine.start_run(TEAM, "purchase", ITEM, "UADA")
    card = await slack.card("UBOB")
    # Ada is not an approver: her click on Bob's card (say, forwarded) is acked like any other.
    env = await slack.click("UADA", card, ids.APPROVE)
    assert env.ack_payload is None
    told = await slack.ephemeral_to("UADA", "Nothing changed")
    assert "cannot decide on your own request" in told["text"]
    refusal = next(
        c
        for c in slack.fake.calls_to("chat.postEphemeral")
        if c.args.get("user") == "UADA" and c.args.get("text") == told["text"]
    )
    assert env.acked_order is not None and refusal.order > env.acked_order


async def test_a_second_click_is_acked_then_told_it_already_counted(slack: SlackHarness) -> None:
    await slack.engine.start_run(TEAM, "purchase", ITEM, "UADA")
    card = await slack.card("UBOB")
    await slack.click("UBOB", card, ids.APPROVE)
    await shows_vote(slack, card, "UBOB")
    again = await slack.click("UBOB", card, ids.APPROVE)
    told = await slack.ephemeral_to("UBOB", "already approved")
    refusal = next(
        c for c in slack.fake.calls_to("chat.postEphemeral") if c.args.get("text") == told["text"]
    )
    assert again.acked_order is not None and refusal.order > again.acked_order


async def test_a_modal_checks_its_fields_in_the_ack_and_decides_after_it(
    slack: SlackHarness,
) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "prod db"}, "UADA")
    card = await slack.card("UBOB", ids.REJECT)
    await slack.click("UBOB", card, ids.REJECT)
    view = await slack.opened_view("UBOB")
    empty = await slack.submit("UBOB", view, {})  # a reason is required to reject
    assert empty.ack_payload == {"response_action": "errors", "errors": {"reason": "required"}}
    # The step closes before Bob submits again (say an admin cancelled the run): the ack closes
    # the modal, and the refusal reaches him in a DM.
    await slack.engine.cancel(TEAM, run.run_id, "UADA", channel="slack")
    late = await slack.submit("UBOB", view, {"reason": "not today"})
    assert late.ack_payload is None
    told = await slack.dm("UBOB", "This request is closed")
    said = next(
        c
        for c in slack.fake.calls_to("chat.postMessage")
        if c.status == 200 and c.response["ts"] == told["ts"]
    )
    assert late.acked_order is not None and said.order > late.acked_order
    assert (await slack.engine.get_run(TEAM, run.run_id)).status == "cancelled"
