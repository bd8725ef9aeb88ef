"""A frozen Redis (SIGSTOP: it accepts connections and never answers) must not hold up the
sent-mail guard or Slack's de-duplication, which run on the dispatch and acknowledgement paths:
they fall back to the process's memory and use Redis again once it answers.

The client here has no socket timeout at all, so a call that waits on Redis never returns; the
suite's own bound (SAFETY) only turns such a hang into a failure."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.dedupe import REDIS_PREFIX, Deduplicator
from relay.breaker import COOLDOWN, RedisBreaker
from tests.fault.services import RedisServer, temp_root
from web.mail.guard import SentGuard, redis_key

pytestmark = pytest.mark.fault

SAFETY = 30.0  # seconds: a hang fails the test instead of stopping the suite
CALLS = 50


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer(temp_root())
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_server.url)  # no socket timeout: a frozen Redis never answers
    try:
        yield redis
    finally:
        redis_server.thaw()
        await redis.aclose()


async def test_mail_guard_falls_back_to_memory_while_redis_is_frozen(
    redis_server: RedisServer, client: Redis
) -> None:
    clock = Clock()
    guard = SentGuard(client, breaker=RedisBreaker(clock=clock))
    redis_server.freeze()
    async with asyncio.timeout(SAFETY):
        to = "a@example.com"
        claims = await asyncio.gather(*(guard.claim(f"cmd-{i}", to) for i in range(CALLS)))
        assert all(claims)  # each mail goes out: this process's memory says it was not sent
        await guard.sent("cmd-0", "a@example.com")
        assert not await guard.claim("cmd-0", "a@example.com")  # remembered here meanwhile

    redis_server.thaw()
    clock.now += COOLDOWN  # Redis is asked again after the cooldown, and shared again
    async with asyncio.timeout(SAFETY):
        assert await guard.claim("cmd-after", "a@example.com")
        await guard.sent("cmd-after", "a@example.com")
    assert await client.get(redis_key("cmd-after", "a@example.com")) == b"sent"


async def test_slack_dedupe_falls_back_to_memory_while_redis_is_frozen(
    redis_server: RedisServer, client: Redis
) -> None:
    clock = Clock()
    dedupe = Deduplicator(client, breaker=RedisBreaker(clock=clock))
    redis_server.freeze()
    async with asyncio.timeout(SAFETY):
        firsts = await asyncio.gather(*(dedupe.first_time(f"event:E{i}") for i in range(CALLS)))
        assert all(firsts)
        assert not await dedupe.first_time("event:E1")  # a repeat is still caught, in memory

    redis_server.thaw()
    clock.now += COOLDOWN
    async with asyncio.timeout(SAFETY):
        assert await dedupe.first_time("event:after")
    assert await client.exists(REDIS_PREFIX + "event:after")
