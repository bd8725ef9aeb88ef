"""End to end on an injected clock: reminders under the card, escalation, the App Home's
deadlines, scheduled workflows, and approvers' time zones from Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import ids
from engine.testing import ManualClock
from tests.slack.harness import TEAM, SlackHarness, running_app

REMIND = """
name: remind
title: Laptop
steps:
  - id: ok
    title: Approve the laptop
    type: approval
    approvers: [UBOB]
    remind_every: 1h
    max_reminders: 3
    timeout: 3 days
    on_timeout: reject
"""

ESCALATE = """
name: escalate
title: Budget
steps:
  - id: budget
    type: approval
    approvers: [UBOB]
    timeout: 2h
    on_timeout: escalate
    escalate_to: [[UCAT]]
"""

CHAIN = """
name: chain
title: Contract
steps:
  - id: sign
    type: approval
    approvers: [UBOB]
    timeout: 2h
    on_timeout: escalate
    escalate_to: [[UCAT], "#approvals"]
"""

NIGHTLY = """
name: nightly
title: Nightly report
schedule:
  cron: "0 6 * * *"
  timezone: Europe/Berlin
steps:
  - id: tell
    type: notify
    to: UBOB
    message: report
"""

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # 10:00 in Paris, everyone's zone in the fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


@pytest.fixture
async def timed(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SlackHarness]:
    async with running_app(tmp_path, clock) as harness:
        for text in (REMIND, ESCALATE, CHAIN, NIGHTLY):
            await harness.engine.apply_definition(TEAM, text)
        yield harness


async def later(slack: SlackHarness, clock: ManualClock, delta: timedelta) -> None:
    """Let `delta` pass: due timers fire and what they cause is done."""
    clock.advance(delta)
    await slack.engine.run_until_idle()
    await slack.service.settle()


def replies_under(slack: SlackHarness, card: dict[str, Any]) -> list[str]:
    return [
        c.args["text"]
        for c in slack.fake.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == card["ts"] and c.status == 200
    ]


async def test_reminders_are_short_replies_and_stop_once_decided(
    timed: SlackHarness, clock: ManualClock
) -> None:
    run = await timed.engine.start_run(TEAM, "remind", {}, "UADA")
    card = await timed.card("UBOB")
    await timed.refs.saved(run.run_id, "ok", "UBOB")
    await later(timed, clock, timedelta(minutes=61))
    await timed.fake.wait_until(lambda: replies_under(timed, card))
    (reminder,) = replies_under(timed, card)
    assert "Reminder" in reminder and "waited 1h" in reminder
    cards = [m for m in timed.fake.messages_in("DUBOB") if ids.APPROVE in str(m["blocks"])]
    assert len(cards) == 1  # never a second card
    await timed.click("UBOB", card, ids.APPROVE)
    await timed.run_reaches(run.run_id, "completed")
    await later(timed, clock, timedelta(hours=5))
    assert len(replies_under(timed, card)) == 1


async def test_escalation_says_why_and_where_it_went(
    timed: SlackHarness, clock: ManualClock
) -> None:
    run = await timed.engine.start_run(TEAM, "escalate", {}, "UADA")
    bob = await timed.card("UBOB")
    await timed.refs.saved(run.run_id, "budget", "UBOB")
    await later(timed, clock, timedelta(hours=2, minutes=1))
    cat = await timed.card("UCAT")
    text = str(cat["blocks"])
    assert "Escalated to you" in text
    assert "waited 2h" in text

    def moved_on() -> bool:
        now = str(timed.fake.messages[(bob["channel"], bob["ts"])]["blocks"])
        return "Escalated to <@UCAT>" in now and ids.APPROVE not in now

    await timed.fake.wait_until(moved_on)
    await timed.click("UCAT", cat, ids.APPROVE)
    await timed.run_reaches(run.run_id, "completed")


async def test_a_two_level_chain_ends_in_a_channel_where_anyone_there_decides(
    timed: SlackHarness, clock: ManualClock
) -> None:
    timed.fake.add_channel("C0APPROVALS", "approvals", ["UDAN", "UEVE", "UBOT"])
    run = await timed.engine.start_run(TEAM, "chain", {}, "UADA")
    bob = await timed.card("UBOB")
    await timed.refs.saved(run.run_id, "sign", "UBOB")
    await later(timed, clock, timedelta(hours=2, minutes=1))
    cat = await timed.card("UCAT")
    await timed.refs.saved(run.run_id, "sign", "UCAT")
    await later(timed, clock, timedelta(hours=2, minutes=1))
    room = await timed.card_in("C0APPROVALS")
    assert "Escalated to you" in str(room["blocks"]) and "level 2" in str(room["blocks"])
    state = await timed.engine.get_run(TEAM, run.run_id)
    assert state.steps["sign"].approvers == ["UDAN", "UEVE"]  # the channel's people, no bot
    for earlier in (bob, cat):

        def moved_on(card: dict[str, Any] = earlier) -> bool:
            now = str(timed.fake.messages[(card["channel"], card["ts"])]["blocks"])
            return "Escalated to #approvals" in now and ids.APPROVE not in now

        await timed.fake.wait_until(moved_on)
    await timed.click("UEVE", room, ids.APPROVE)
    done = await timed.run_reaches(run.run_id, "completed")
    assert [v.actor for v in done.steps["sign"].votes] == ["UEVE"]


async def test_app_home_shows_how_long_tasks_waited_and_what_comes_next(
    timed: SlackHarness, clock: ManualClock
) -> None:
    run = await timed.engine.start_run(TEAM, "remind", {}, "UADA")
    await timed.card("UBOB")
    clock.advance(timedelta(minutes=30))
    await timed.open_home("UBOB")
    home = await timed.fake.wait_until(
        lambda: (
            "waiting 30m" in str(timed.fake.home.get("UBOB", {}).get("blocks"))
            and timed.fake.home["UBOB"]
        )
    )
    text = str(home["blocks"])
    assert "next reminder" in text and "times out" in text
    await timed.engine.ask(TEAM, run.run_id, "ok", "UBOB", "Which model?", channel="slack")
    paused = await timed.fake.wait_until(
        lambda: (
            "paused: question open" in str(timed.fake.home["UBOB"]["blocks"])
            and timed.fake.home["UBOB"]
        )
    )
    assert "Which model?" in str(paused["blocks"])


async def test_schedules_lists_the_next_starts(timed: SlackHarness) -> None:
    told = await timed.reply("UBOB", "schedules")
    text = str(told["blocks"])
    assert "nightly" in text and "Europe/Berlin" in text
    # 06:00 in Berlin the next morning is 05:00 UTC.
    assert str(int(datetime(2026, 1, 6, 5, 0, tzinfo=UTC).timestamp())) in text


async def test_approver_time_zones_come_from_slack(timed: SlackHarness) -> None:
    timed.fake.users["UBOB"]["tz"] = "America/New_York"
    assert await timed.service.directory.time_zone(TEAM, "UBOB") == "America/New_York"
    timed.fake.users["UBOB"]["tz"] = "Asia/Tokyo"  # cached: one users.info per person
    assert await timed.service.directory.time_zone(TEAM, "UBOB") == "America/New_York"
    assert len(timed.fake.calls_to("users.info")) == 1
    run = await timed.engine.start_run(TEAM, "remind", {}, "UADA")
    await timed.card("UBOB")
    state = await timed.engine.get_run(TEAM, run.run_id)
    assert state.steps["ok"].approver_time_zones == {"UBOB": "America/New_York"}
