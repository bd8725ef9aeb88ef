"""relay.breaker: after a failed or late Redis call, calls are not tried for the cooldown, then
one call at a time tries Redis again, and a success lets every call through."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from relay.breaker import RedisBreaker, RedisSkipped


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeCalls:
    """Stands in for a Redis command: counts calls; `hang` makes them never answer."""

    def __init__(self) -> None:
        self.calls = 0
        self.hang = False
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        await self.release.wait()
        return "OK"


async def test_a_late_call_opens_the_breaker_and_one_probe_closes_it() -> None:
    clock, redis = Clock(), FakeCalls()
    breaker = RedisBreaker(timeout=0.01, cooldown=5.0, clock=clock)
    redis.hang = True
    with pytest.raises(RedisConnectionError, match="did not answer within"):
        await breaker.call(redis)
    assert breaker.open

    with pytest.raises(RedisSkipped):  # not asked during the cooldown
        await breaker.call(redis)
    assert redis.calls == 1

    clock.now += 5.0
    redis.hang = False
    probe = asyncio.create_task(breaker.call(redis))
    await asyncio.sleep(0)  # the probe is on its way to Redis
    with pytest.raises(RedisSkipped):  # one probe at a time
        await breaker.call(redis)
    redis.release.set()
    assert await probe == "OK"
    assert await breaker.call(redis) == "OK"  # closed again: every call goes through
    assert redis.calls == 3
