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
from collections import OrderedDict
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


class LastDrawn:
    """What each message showed when this process last drew it (a digest of its text and
    blocks), so a redraw that would change nothing is not sent: each chat.update counts against
    Slack's Tier 3 limit (50 a minute), and much that moves a run on (what a card showed being
    recorded, a comment) changes no card. Bounded: the oldest messages are forgotten, and a
    forgotten one is simply drawn again. Another replica's redraw is not seen here, but a card
    only moves forward with its run, so a redraw this process skips shows what the card already
    shows."""

    def __init__(self, size: int = 50_000) -> None:
        self._drawn: OrderedDict[Hashable, str] = OrderedDict()
        self._size = size

    def same(self, where: Hashable, looks: str) -> bool:
        """True when `where` already shows `looks` (then it needs no redraw)."""
        return self._drawn.get(where) == looks

    def drawn(self, where: Hashable, looks: str) -> None:
        self._drawn[where] = looks
        self._drawn.move_to_end(where)
        while len(self._drawn) > self._size:
            self._drawn.popitem(last=False)

    def forget(self, where: Hashable) -> None:
        self._drawn.pop(where, None)
