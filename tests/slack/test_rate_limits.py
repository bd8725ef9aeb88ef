"""Against a fake Slack that enforces Slack's published rate limits (sped up, so the test takes
seconds): a burst of cards to one channel all arrive, paced so that no call is refused twice, and
each card's messages keep their order; a 429 is retried after the Retry-After Slack gave."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import ids
from tests.fakeslack import ApiCall, FakeSlack
from tests.slack.conftest import ROOM
from tests.slack.harness import TEAM, SlackHarness, app_process, fake_slack

SPEED = 10  # ten times Slack's rates: 10 posts a second to a channel, Tier 3 about 8 a second
CARDS = 40  # a few seconds of posting to one channel at that speed
REQUESTER = "email:ada@example.com"  # not in Slack: the burst is the channel's cards alone


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[SlackHarness]:
    fake = fake_slack()
    fake.wait = 60  # a burst takes some seconds under the limits
    fake.enforce_limits(speed=SPEED)  # the app keeps to the same limits (see app_process)
    await fake.start()
    try:
        async with app_process(fake, tmp_path / "cs.db") as harness:
            await harness.engine.apply_definition(TEAM, ROOM)
            yield harness
    finally:
        await fake.stop()
    harness.assert_every_envelope_acked_in_time()


def refused_more_than_once(calls: list[ApiCall]) -> list[str]:
    """Calls (method and arguments) answered 429 more than once."""
    refusals = Counter(
        f"{c.method} {json.dumps(c.args, sort_keys=True)}" for c in calls if c.status == 429
    )
    return [call for call, times in refusals.items() if times > 1]


def cards_in(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages_in(channel) if ids.APPROVE in str(m["blocks"])]


async def test_a_burst_of_cards_to_one_channel_all_arrive_in_order(
    limited: SlackHarness,
) -> None:
    fake = limited.fake
    runs = await asyncio.gather(
        *(limited.engine.start_run(TEAM, "room", {}, REQUESTER) for _ in range(CARDS))
    )
    cards = await fake.wait_until(lambda: len(cards_in(fake, "C0ROOM")) >= CARDS and True)
    assert cards and len(fake.messages_in("C0ROOM")) == CARDS  # one card per run, no repeats
    for run in runs:
        await limited.refs.saved(run.run_id, "lead", "C0ROOM")

    # Bob approves every one at once: each card ends showing the decision, never an older state.
    posted = list(fake.messages_in("C0ROOM"))
    for env in await asyncio.gather(*(limited.click("UBOB", m, ids.APPROVE) for m in posted)):
        assert env.ack_payload is None
    for run in runs:
        await limited.run_reaches(run.run_id, "completed")
    await fake.wait_until(lambda: not cards_in(fake, "C0ROOM"))
    await limited.service.settle()

    for message in posted:
        post = next(
            c
            for c in fake.calls_to("chat.postMessage")
            if c.status == 200 and c.response["ts"] == message["ts"]
        )
        updates = [
            c
            for c in fake.calls_to("chat.update")
            if c.status == 200 and c.args["ts"] == message["ts"]
        ]
        assert updates and all(u.order > post.order for u in updates)
        last = str(updates[-1].args["blocks"])
        assert "Approved" in last and ids.APPROVE not in last
    assert refused_more_than_once(fake.calls) == []
    assert all(c.limit for c in fake.calls if c.method in ("chat.postMessage", "chat.update"))


async def test_a_429_is_retried_after_its_retry_after(limited: SlackHarness) -> None:
    fake = limited.fake
    fake.rate_limit("chat.postMessage", retry_after=1, times=1)
    await limited.engine.start_run(TEAM, "room", {}, REQUESTER)
    await limited.card_in("C0ROOM")
    refused, posted = [
        c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "C0ROOM"
    ]
    assert (refused.status, posted.status) == (429, 200)
    assert posted.args == refused.args  # the same message, sent again
    assert posted.at - refused.at >= 1.0  # not before Slack said
