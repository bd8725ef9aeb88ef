"""Coalesced redraws: many requests to redraw the same thing share one pass.

A caller returns once a pass that *started after its request* has finished, so it never misses
the state it was called for, yet 200 decisions in a burst cost a handful of redraws of every
card, not 200. Passes for one key never overlap, so a slower, older pass cannot overwrite a newer
one. While requests keep coming, passes for a key start at least `min_interval` seconds apart
(Slack rate-limits chat.update, and a burst is better drawn a few times than 200 times); a lone
request is drawn at once. A pass that fails raises to its caller and leaves the next waiter to
try again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    requested: int = 0  # requests so far
    covered: int = 0  # requests covered by the last finished pass
    waiters: int = 0
    last_start: float = float("-inf")  # loop time the last pass started


class Coalescer:
    def __init__(self, min_interval: float = 0.0) -> None:
        self._slots: dict[Hashable, _Slot] = {}
        self._min_interval = min_interval

    async def run(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        slot = self._slots.setdefault(key, _Slot())
        slot.requested += 1
        mine = slot.requested
        slot.waiters += 1
        try:
            async with slot.lock:
                if slot.covered >= mine:
                    return  # a pass that started after this request has finished
                loop = asyncio.get_running_loop()
                pause = slot.last_start + self._min_interval - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)  # throttle: gather more requests into this pass
                slot.last_start = loop.time()
                upto = slot.requested
                await work()
                slot.covered = upto
        finally:
            slot.waiters -= 1
            if slot.waiters == 0:
                del self._slots[key]
