"""Coalesced redraws: many requests to redraw the same thing share one pass.

A caller returns once a pass that *started after its request* has finished, so it never misses
the state it was called for, yet 200 decisions in a burst cost a handful of redraws of every
card, not 200. Passes for one key never overlap, so a slower, older pass cannot overwrite a newer
one. A pass that fails raises to its caller and leaves the next waiter to try again.
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


class Coalescer:
    def __init__(self) -> None:
        self._slots: dict[Hashable, _Slot] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        slot = self._slots.setdefault(key, _Slot())
        slot.requested += 1
        mine = slot.requested
        slot.waiters += 1
        try:
            async with slot.lock:
                if slot.covered >= mine:
                    return  # a pass that started after this request has finished
                upto = slot.requested
                await work()
                slot.covered = upto
        finally:
            slot.waiters -= 1
            if slot.waiters == 0:
                del self._slots[key]
