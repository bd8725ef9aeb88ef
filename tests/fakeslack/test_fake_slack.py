"""The fake speaks what slack_sdk speaks: checked with the real clients, nothing patched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakeslack import FakeSlack
from tests.fakeslack.payloads import slash_command


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user("U1", "Ada Lovelace", email="ada@example.com", tz="Europe/London")
    await fake.start()
    yield fake
    await fake.stop()


async def test_web_api_answers_and_records(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    auth = await client.auth_test()
    assert auth["team_id"] == "T111"
    dm = await client.conversations_open(users="U1")
    posted = await client.chat_postMessage(channel=dm["channel"]["id"], text="hi", blocks=[])
    await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="bye")
    assert fake.messages[(posted["channel"], posted["ts"])]["text"] == "bye"
    info = await client.users_info(user="U1")
    assert info["user"]["tz"] == "Europe/London"
    found = await client.users_lookupByEmail(email="ada@example.com")
    assert found["user"]["id"] == "U1"
    assert [c.method for c in fake.calls] == [
        "auth.test",
        "conversations.open",
        "chat.postMessage",
        "chat.update",
        "users.info",
        "users.lookupByEmail",
    ]


async def test_bad_token_and_unknown_email_are_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    with pytest.raises(SlackApiError, match="users_not_found"):
        await client.users_lookupByEmail(email="nobody@example.com")


async def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=1)
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    await client.chat_postMessage(channel="C1", text="hello")
    first, second = fake.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0


async def test_socket_mode_hello_envelope_ack_and_reconnect(fake: FakeSlack) -> None:
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    client = SocketModeClient(app_token=fake.app_token, web_client=web)

    async def ack(c: SocketModeClient, req: SocketModeRequest) -> None:
        await c.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "ok"})
        )

    client.socket_mode_request_listeners.append(ack)  # type: ignore[arg-type]
    await client.connect()  # type: ignore[no-untyped-call]
    try:
        env = await fake.send("slash_commands", slash_command("U1", "help"))
        assert await fake.ack(env) == {"text": "ok"}
        assert env.ack_seconds < 3
        await fake.request_reconnect()
        await fake.wait_connected(count=2)
        again = await fake.send("slash_commands", slash_command("U1", "help"))
        await fake.ack(again)
    finally:
        await client.close()  # type: ignore[no-untyped-call]


async def test_threads_channels_and_refusals(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    fake.add_channel("C9", "approvals", ["U1", "UBOT"])
    listed = await client.conversations_list(types="public_channel,private_channel")
    assert [(c["id"], c["name"]) for c in listed["channels"]] == [("C9", "approvals")]
    members = await client.conversations_members(channel="C9")
    assert members["members"] == ["U1", "UBOT"]
    card = await client.chat_postMessage(channel="C9", text="card", blocks=[])
    await client.chat_postMessage(channel="C9", text="reply", thread_ts=card["ts"])
    later = await client.chat_postMessage(channel="C9", text="later")
    parent = await client.conversations_history(
        channel="C9", latest=card["ts"], inclusive=True, limit=1
    )
    assert [m["ts"] for m in parent["messages"]] == [card["ts"]]  # thread replies left out
    newest = await client.conversations_history(channel="C9", limit=1)
    assert [m["ts"] for m in newest["messages"]] == [later["ts"]]
    fake.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C9", text="x")
    assert refused.value.response["error"] == "not_in_channel"
    await client.chat_postMessage(channel="C9", text="x")  # only the next call was refused
    fake.deactivate("U1")
    with pytest.raises(SlackApiError) as disabled:
        await client.conversations_open(users="U1")
    assert disabled.value.response["error"] == "user_disabled"
    assert (await client.users_info(user="U1"))["user"]["deleted"] is True
