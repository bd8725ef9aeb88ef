"""A card is redrawn only when what it shows changes, not whenever its run moves on (a record of
what was shown, a comment): each chat.update counts against Slack's Tier 3 limit."""

from __future__ import annotations

from bot.blocks import ids
from bot.channel import SlackChannel
from bot.clients import SlackClients
from bot.directory import SlackDirectory
from bot.hooks import WebHooks
from engine import Shown
from tests.slack.harness import TEAM, SlackHarness

ITEM = {"item": "Laptop", "amount": 1200}


async def test_a_redraw_that_shows_the_same_is_not_sent(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", ITEM, "UADA")
    card = await slack.card("UBOB")
    clients = SlackClients(slack.fake.api_url, bot_token=slack.fake.bot_token, pace=None)
    channel = SlackChannel(clients, slack.engine, slack.refs, SlackDirectory(clients), WebHooks())
    ref = ids.card_step(card["blocks"])
    assert ref is not None
    step_id = ref.step_id

    def updates() -> int:
        return len([c for c in slack.fake.calls_to("chat.update") if c.args["ts"] == card["ts"]])

    await channel.refresh_cards(TEAM, run.run_id, step_id)  # this channel's first drawing
    drawn = updates()
    before = await slack.engine.get_run(TEAM, run.run_id)
    shown = Shown(step_id, "UBOB", "email", "email", "Approve the laptop?")
    await slack.engine.record_shown(TEAM, run.run_id, [shown])
    assert (await slack.engine.get_run(TEAM, run.run_id)).seq > before.seq  # the run moved on
    await channel.refresh_cards(TEAM, run.run_id, step_id)
    assert updates() == drawn
