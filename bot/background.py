"""Acks first: Slack waits for them (3 s at most) and a person waits on the click, while the
work behind them can come a moment later.

- `Turns` lets envelopes that were acked on arrival into Bolt one per pass of the event loop, so
  the acks of envelopes received meanwhile leave before the dispatches queued ahead of them.
- `Background` runs the work a listener starts after its ack: tracked, so stopping waits for it,
  and never silent. Work spawned while envelopes are still being handled starts once none is in
  flight (`InFlight`), so a burst of 200 clicks is dispatched before their 200 engine calls
  compete with it for the loop; it waits `ACKS_FIRST` at most, so a steady stream of envelopes
  cannot starve it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("countersign.slack")

ACKS_FIRST = 0.5  # seconds work may wait for the envelopes in flight to be acked


class Turns:
    """Lets waiters go one per pass of the event loop, in arrival order. Between two passes the
    loop reads its sockets, so an envelope that arrives behind a queue of dispatches is read
    (and acked) after at most one of them, not after all."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._calling = False

    async def next(self) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        if not self._calling:
            self._calling = True
            asyncio.get_running_loop().call_soon(self._call)
        await turn

    def _call(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # a cancelled waiter gives its turn to the next
                turn.set_result(None)
                break
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._call)
        else:
            self._calling = False


class InFlight:
    """The Socket Mode envelopes received and not yet handled (acked, and dispatched to Bolt)."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def begin(self) -> None:
        self.count += 1
        self.idle.clear()

    def end(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()

    async def settled(self, at_most: float) -> None:
        """Return once no envelope is in flight, or after `at_most` seconds."""
        if self.idle.is_set():
            return
        try:
            async with asyncio.timeout(at_most):
                await self.idle.wait()
        except TimeoutError:
            pass


class Background:
    def __init__(self, in_flight: InFlight | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.in_flight = in_flight or InFlight()

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(self._after_acks(work), name=what)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _after_acks(self, work: Coroutine[Any, Any, None]) -> None:
        await self.in_flight.settled(ACKS_FIRST)
        await work

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("Slack: %s failed", task.get_name(), exc_info=error)

    async def drain(self) -> None:
        """Wait until all work started so far (and what it starts) is done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
