"""The fake enforces Slack's published rate limits when asked: per method tier, and for posting
per channel; a call over its limit is answered 429 with Retry-After and takes no token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakeslack import FakeSlack
from tests.fakeslack.limits import limit_of


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


def plain_client(fake: FakeSlack) -> AsyncWebClient:
    """slack_sdk's client without retries, to see each answer."""
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])


async def refused(call: object) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    return str(caught.value.response.headers["Retry-After"])


async def test_limits_are_off_unless_asked_for(fake: FakeSlack) -> None:
    client = plain_client(fake)
    for i in range(12):
        await client.chat_postMessage(channel="C1", text=f"{i}")
    assert all(c.status == 200 for c in fake.calls)


async def test_posting_is_limited_per_channel_after_a_short_burst(fake: FakeSlack) -> None:
    fake.enforce_limits()
    client = plain_client(fake)
    for i in range(3):  # the burst
        await client.chat_postMessage(channel="C1", text=f"{i}")
    retry_after = await refused(client.chat_postMessage(channel="C1", text="one too many"))
    assert retry_after == "1"  # whole seconds, as Slack sends it
    await client.chat_postMessage(channel="C2", text="another channel has its own limit")
    assert [c.status for c in fake.calls] == [200, 200, 200, 429, 200]
    assert len(fake.messages_in("C1")) == 3  # the refused message was not posted


async def test_methods_are_limited_by_their_tier(fake: FakeSlack) -> None:
    fake.enforce_limits()
    client = plain_client(fake)
    posted = await client.chat_postMessage(channel="C1", text="card")
    update = limit_of("chat.update", {}, fake.team_id)  # Tier 3: 50 a minute
    assert update is not None and update.rate == 50 / 60 and update.burst == 5
    for _ in range(5):
        await client.chat_update(channel="C1", ts=posted["ts"], text="again")
    assert int(await refused(client.chat_update(channel="C1", ts=posted["ts"], text="x"))) >= 1
    await client.chat_postEphemeral(channel="C1", user="U1", text="Tier 4 is another limit")


async def test_speed_scales_the_rates(fake: FakeSlack) -> None:
    fake.enforce_limits(speed=1000)  # a Tier 3 turn every 1.2 ms
    client = plain_client(fake)
    posted = await client.chat_postMessage(channel="C1", text="card")
    refusals = 0
    for _ in range(20):
        try:
            await client.chat_update(channel="C1", ts=posted["ts"], text="again")
        except SlackApiError:
            refusals += 1
    assert refusals < 15  # at Slack's own rate, 15 of these 20 would be refused
