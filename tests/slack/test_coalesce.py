"""Coalesced redraws: callers share passes, never miss their state, never overlap."""

from __future__ import annotations

import asyncio

import pytest

from bot.coalesce import Coalescer


async def test_a_burst_shares_passes_and_each_caller_sees_a_later_pass() -> None:
    coalescer = Coalescer()
    version = 0  # what a pass "draws"
    drawn: list[int] = []
    running = 0
    gate, started = asyncio.Event(), asyncio.Event()

    async def draw() -> None:
        nonlocal running
        running += 1
        assert running == 1, "passes overlapped"
        seen = version
        started.set()
        await gate.wait()
        drawn.append(seen)
        running -= 1

    first = asyncio.create_task(coalescer.run("card", draw))
    await started.wait()  # the first pass is drawing version 0
    version = 1
    burst = [asyncio.create_task(coalescer.run("card", draw)) for _ in range(50)]
    await asyncio.sleep(0)  # one scheduler turn: every burst task has asked (no time passes)
    gate.set()
    await asyncio.gather(first, *burst)
    assert drawn == [0, 1]  # 51 requests, two passes; the last one drew the newest state


async def test_a_failed_pass_raises_and_the_next_caller_retries() -> None:
    coalescer = Coalescer()
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("slack down")

    with pytest.raises(ConnectionError):
        await coalescer.run("card", flaky)
    await coalescer.run("card", flaky)
    assert calls == 2
