"""End to end: intruders, repeated deliveries, reconnects, rate limits and wrong tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.blocks import ids
from bot.config import SlackConfig
from bot.message_refs import MemoryMessageRefs
from bot.service import SlackStartError, start_slack
from engine.runtime.service import Engine
from engine.testing import MemoryStorage
from tests.fakeslack import FakeSlack
from tests.fakeslack import payloads as p
from tests.slack.harness import TEAM, SlackHarness, running_app


async def test_an_intruder_is_told_and_nothing_changes(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "room", {}, "UADA")
    card = await slack.card_in("C0ROOM")
    await slack.click("UEVE", card, ids.APPROVE)
    told = await slack.ephemeral_to("UEVE", "not one of the approvers")
    assert told["channel"] == "C0ROOM"
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.status == "running" and state.steps["lead"].votes == []
    await slack.click("UBOB", card, ids.APPROVE)  # the real approver still can
    await slack.run_reaches(run.run_id, "completed")


async def test_a_replayed_envelope_starts_one_run(slack: SlackHarness) -> None:
    await slack.command("UADA", "start purchase")
    view = await slack.opened_view("UADA")
    first = await slack.submit("UADA", view, {"item": "Chair", "amount": "90"})
    again = await slack.fake.replay(first)
    assert await slack.fake.ack(again) is None
    await slack.service.settle()  # the run starts after the ack
    page = await slack.engine.list_runs(TEAM, requester="UADA")
    assert len(page.runs) == 1
    assert again.retry_attempt == 1


async def test_disconnect_mid_run_reconnects_and_loses_nothing(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Desk", "amount": 1}, "UADA")
    bob, cat = await slack.card("UBOB"), await slack.card("UCAT")
    await slack.fake.request_reconnect("refresh_requested")
    # Bob clicks while the app is switching connections: the envelope goes out on the old
    # one; if the app drops it unacked, the fake (like Slack) delivers it again on the new one.
    during = await slack.fake.send("interactive", p.block_action("UBOB", bob, ids.APPROVE))
    await slack.fake.wait_connected(count=2)
    await slack.fake.ack(during)
    await slack.click("UCAT", cat, ids.APPROVE)
    done = await slack.run_reaches(run.run_id, "completed")
    assert sorted(v.actor for v in done.steps["managers"].votes) == ["UBOB", "UCAT"]
    assert len(slack.fake.calls_to("apps.connections.open")) == 2


async def test_rate_limited_post_is_retried_after_retry_after(slack: SlackHarness) -> None:
    # The requester's message and the card race: both first posts are refused.
    slack.fake.rate_limit("chat.postMessage", retry_after=1, times=2)
    await slack.engine.start_run(TEAM, "access", {"system": "vpn"}, "UADA")
    await slack.card("UBOB", ids.REJECT)
    to_bob = [c for c in slack.fake.calls_to("chat.postMessage") if c.args["channel"] == "DUBOB"]
    limited, retried = to_bob
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at - limited.at >= 1.0
    assert limited.args == retried.args


async def test_a_wrong_bot_token_is_a_clear_error_at_start() -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        engine = Engine.from_storage(MemoryStorage())
        config = SlackConfig(bot_token="xoxb-wrong", app_token=fake.app_token, api_url=fake.api_url)
        with pytest.raises(SlackStartError, match=r"SLACK_BOT_TOKEN \(invalid_auth\)"):
            await start_slack(engine, engine.router, config, MemoryMessageRefs())
        config = SlackConfig(bot_token=fake.bot_token, app_token="xapp-wrong", api_url=fake.api_url)
        with pytest.raises(SlackStartError, match=r"SLACK_APP_TOKEN \(invalid_auth\)"):
            await start_slack(engine, engine.router, config, MemoryMessageRefs())
        assert fake.connections == 0
    finally:
        await fake.stop()


async def test_unknown_subcommand_gets_help_at_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as slack:
        env = await slack.fake.send("slash_commands", p.slash_command("UADA", "frobnicate"))
        answer = await slack.fake.ack(env)
        assert answer is not None
        assert "I don't know `frobnicate`" in answer["text"]
        assert "/workflow start NAME" in answer["text"]


SELF = """
name: selfish
steps:
  - id: boss
    type: approval
    channel: C0TEAM
    approvers: [UADA, UBOB]
"""


async def test_self_approval_is_refused_with_a_reason(slack: SlackHarness) -> None:
    await slack.engine.apply_definition(TEAM, SELF)
    run = await slack.engine.start_run(TEAM, "selfish", {}, "UADA")
    card = await slack.card_in("C0TEAM")  # the requester sees the card in the channel
    await slack.click("UADA", card, ids.APPROVE)
    await slack.ephemeral_to("UADA", "You cannot decide on your own request")
    assert (await slack.engine.get_run(TEAM, run.run_id)).steps["boss"].votes == []


async def test_another_workspace_cannot_act_on_a_run(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Car", "amount": 9}, "UADA")
    card = await slack.card("UBOB")
    env = await slack.fake.send(
        "interactive", p.block_action("UBOB", card, ids.APPROVE, team_id="T999")
    )
    await slack.fake.ack(env)
    await slack.ephemeral_to("UBOB", "in this workspace")
    assert (await slack.engine.get_run(TEAM, run.run_id)).steps["managers"].votes == []
