"""A card is redrawn only when what it shows changes, not whenever its run moves on (a record of
what was shown, a comment): each chat.update counts against Slack's Tier 3 limit. And none is
attempted once Slack has stopped."""

from __future__ import annotations

from bot.blocks import ids
from bot.channel import SlackChannel
from bot.clients import SlackClients
from bot.config import SlackConfig
from bot.directory import SlackDirectory
from bot.hooks import WebHooks
from bot.message_refs import MemoryMessageRefs
from bot.service import start_slack
from engine import Shown, Unavailable, UpdateApproval
from engine.runtime.service import Engine
from engine.testing import MemoryStorage
from tests.fakeslack import FakeSlack
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


async def test_a_command_handed_over_after_slack_stopped_waits_for_the_next_start(
    fake: FakeSlack,
) -> None:
    """The engine stops after Slack: a command it performs meanwhile is put off (it stays in
    the outbox for the next start), not failed on a closed connection."""
    engine = Engine.from_storage(MemoryStorage())
    config = SlackConfig(fake.bot_token, fake.app_token, api_url=fake.api_url, pace=None)
    service = await start_slack(engine, engine.router, config, MemoryMessageRefs())
    await service.stop()
    update = UpdateApproval(key="R1:ok:update:3", tenant_id=TEAM, run_id="R1", step_id="ok")
    outcome = await engine.router.perform(update)
    assert isinstance(outcome, Unavailable)
    assert fake.calls_to("chat.update") == []
