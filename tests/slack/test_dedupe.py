"""A request Slack delivers twice is handled once: per process, and across replicas via Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.dedupe import Deduplicator, delivery_key
from tests.fakeslack import payloads as p

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} does not answer: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} does not answer: {exc}")
    yield client
    await client.aclose()


def test_the_key_is_what_survives_a_redelivery() -> None:
    event = p.app_home_opened("UADA")
    assert delivery_key(event) == delivery_key(dict(event)) == f"event:{event['event_id']}"
    first, second = p.slash_command("UADA", "list"), p.slash_command("UADA", "list")
    assert delivery_key(first) != delivery_key(second)  # two commands typed: two triggers


async def test_one_process_remembers_what_it_saw() -> None:
    dedupe = Deduplicator(remember=2)
    assert await dedupe.first_time("a") and not await dedupe.first_time("a")
    assert await dedupe.first_time("b") and await dedupe.first_time("c")
    assert await dedupe.first_time("a")  # forgotten: only the last two are kept


async def test_replicas_share_what_they_saw_through_redis(redis: Redis) -> None:
    one, two = Deduplicator(redis), Deduplicator(redis)
    key = f"test:{uuid.uuid4()}"
    assert await one.first_time(key)
    assert not await two.first_time(key)
    assert 0 < await redis.ttl("countersign:slack:seen:" + key) <= 3600


async def test_without_redis_it_falls_back_to_the_process() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    dedupe = Deduplicator(dead)
    assert await dedupe.first_time("k")
    assert not await dedupe.first_time("k")
    await dead.aclose()
