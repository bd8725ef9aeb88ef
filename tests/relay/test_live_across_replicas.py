"""A run page follows its run whichever replica commits the change (Redis pub/sub), and keeps
following this process's own changes when Redis is down."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from engine.runtime.service import Engine
from engine.state import RunState
from engine.testing import ManualClock
from relay.redis_feed import RedisRunFeed, RunNotice
from storage import open_storage
from tests.relay.conftest import DEAD_REDIS_URL, TENANT, replica
from tests.web.support import approval_flow

ALICE = "U0ALICE"
WAIT = 5.0  # seconds an awaited event may take before the test fails


async def next_event(stream: aiohttp.ClientResponse) -> tuple[str, str]:
    """The next Server-Sent Event (name, data), skipping keep-alive comments."""
    name, data = "message", ""
    async with asyncio.timeout(WAIT):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and data:
                return name, data


async def open_stream(browser: aiohttp.ClientSession, run_id: str) -> aiohttp.ClientResponse:
    stream = await browser.get(f"/runs/{run_id}/events")
    assert stream.status == 200
    assert (await next_event(stream))[0] == "hello"
    return stream


async def test_a_decision_through_another_replica_updates_the_page(
    postgres_url: str, redis_url: str, channel: str, clock: ManualClock, tmp_path: Path
) -> None:
    async with (
        replica(postgres_url, redis_url, channel, clock, tmp_path / "a") as a,
        replica(postgres_url, redis_url, channel, clock, tmp_path / "b") as b,
    ):
        await a.engine.apply_definition(TENANT, approval_flow(ALICE))
        run = await a.engine.start_run(TENANT, "purchase", {"item": "chairs"}, "U0BOB")
        await a.engine.run_until_idle()
        await asyncio.wait_for(a.feed.subscribed(), WAIT)
        async with a.browser(ALICE) as browser:
            stream = await open_stream(browser, run.run_id)
            decided = await b.engine.decide(TENANT, run.run_id, "manager", ALICE, "approve")
            assert await next_event(stream) == ("changed", str(decided.seq))
            # The page reloads the run through A's engine, from the database B wrote to.
            async with browser.get(f"/runs/{run.run_id}?fragment=1") as r:
                fragment = await r.text()
            assert "approved" in fragment.lower()
            await b.engine.run_until_idle()  # B carries the run on: the page follows it
            finished = await a.engine.get_run(TENANT, run.run_id)
            assert finished.status == "completed" and finished.seq > decided.seq
            assert await next_event(stream) == ("changed", str(finished.seq))
            stream.close()


async def test_after_a_feed_outage_open_pages_catch_up(
    postgres_url: str, redis_url: str, channel: str, clock: ManualClock, tmp_path: Path
) -> None:
    async with replica(postgres_url, redis_url, channel, clock, tmp_path / "a") as a:
        silent = await open_storage(postgres_url)  # a replica whose notices are lost
        other = Engine.from_storage(silent, clock=clock)
        try:
            await a.engine.apply_definition(TENANT, approval_flow(ALICE))
            run = await a.engine.start_run(TENANT, "purchase", {"item": "lamp"}, "U0BOB")
            await asyncio.wait_for(a.feed.subscribed(), WAIT)
            async with a.browser(ALICE) as browser:
                stream = await open_stream(browser, run.run_id)
                decided = await other.decide(TENANT, run.run_id, "manager", ALICE, "approve")
                # Cut A's subscription, as a Redis restart would: once it is back, the page
                # reloads its run and sees the decision it was never told about.
                await cut_subscription(a.redis)
                assert await next_event(stream) == ("changed", str(decided.seq))
                stream.close()
        finally:
            await other.stop()
            await silent.close()


async def cut_subscription(client: Redis) -> None:
    name = await client.client_getname()
    killed = 0
    for entry in await client.client_list(_type="pubsub"):
        if entry.get("name") == (name.decode() if isinstance(name, bytes) else name):
            killed += await client.client_kill_filter(_id=entry["id"])
    assert killed == 1


async def test_a_replica_does_not_hear_its_own_changes_twice(redis_url: str, channel: str) -> None:
    heard: dict[str, list[RunNotice]] = {"a": [], "b": []}
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    a, b = (RedisRunFeed(c, channel=channel) for c in clients)
    a.listen(heard["a"].append)
    b.listen(heard["b"].append)
    arrived = asyncio.Event()
    b.listen(lambda _notice: arrived.set())
    a.start()
    try:
        await asyncio.wait_for(asyncio.gather(a.subscribed(), b.subscribed()), WAIT)
        await a.on_change(_state("run-1", seq=3), [])
        await a.on_change(_state("run-1", seq=4), [])  # coalesced: the latest seq is enough
        await asyncio.wait_for(arrived.wait(), WAIT)
    finally:
        await a.stop()
        await b.stop()
        for client in clients:
            await client.aclose()
    assert heard["b"][-1] == RunNotice(TENANT, "run-1", 4, "running")
    assert heard["a"] == []


def _state(run_id: str, *, seq: int) -> RunState:
    return RunState.model_construct(tenant_id=TENANT, run_id=run_id, seq=seq, status="running")


async def test_with_redis_down_runs_complete_and_pages_follow_this_process(
    postgres_url: str,
    channel: str,
    clock: ManualClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="countersign.relay")
    async with replica(postgres_url, DEAD_REDIS_URL, channel, clock, tmp_path / "a") as a:
        await a.engine.apply_definition(TENANT, approval_flow(ALICE))
        run = await a.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0BOB")
        await a.engine.run_until_idle()
        async with a.browser(ALICE) as browser:
            stream = await open_stream(browser, run.run_id)
            decided = await a.engine.decide(TENANT, run.run_id, "manager", ALICE, "approve")
            assert await next_event(stream) == ("changed", str(decided.seq))
            await a.engine.run_until_idle()
            finished = await a.engine.get_run(TENANT, run.run_id)
            assert finished.status == "completed"
            assert await next_event(stream) == ("changed", str(finished.seq))
            stream.close()
        await a.feed.stop()  # the publisher has tried (and failed) by the time it stops
    assert "relay: publishing run changes to Redis failed" in caplog.text
