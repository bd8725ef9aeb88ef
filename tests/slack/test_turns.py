"""Envelopes acked on arrival go to Bolt one per pass of the event loop, in arrival order, so
whatever the loop reads between two passes (more envelopes to ack) never waits for them all."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from bot.background import Turns


async def test_waiters_go_one_per_pass_of_the_loop_in_arrival_order() -> None:
    turns = Turns()
    passes = 0
    went: list[tuple[int, int]] = []  # (waiter, the pass it went in)
    loop = asyncio.get_running_loop()

    def tick() -> None:  # counts the loop's passes until the waiters are done
        nonlocal passes
        passes += 1
        if len(went) < 5:
            loop.call_soon(tick)

    async def waiter(i: int) -> None:
        await turns.next()
        went.append((i, passes))

    tick()
    await asyncio.gather(*(waiter(i) for i in range(5)))
    assert [i for i, _ in went] == [0, 1, 2, 3, 4]
    seen = [p for _, p in went]
    assert all(later > earlier for earlier, later in pairwise(seen))


async def test_a_cancelled_waiter_hands_its_turn_on() -> None:
    turns = Turns()
    first = asyncio.create_task(turns.next())
    second = asyncio.create_task(turns.next())
    await asyncio.sleep(0)  # both are queued
    first.cancel()
    await asyncio.wait_for(second, 5)
    assert first.cancelled() and second.done()
