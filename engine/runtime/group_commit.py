"""Group commit: changes submitted at the same time (many people deciding, many runs starting)
are written in one transaction instead of one each, which is what bounds throughput.

Nothing waits to fill a batch: a change is written at once when no commit is in flight, and the
changes that arrive while one is in flight go together in the next. When a group fails because of
one of its changes (a conflict, a reused idempotency key), each change is retried alone, so every
caller gets the outcome of its own change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.errors import ConcurrencyConflict, DuplicateRun
from engine.ports import RunChange, RunStore


class GroupCommitter:
    def __init__(self, runs: RunStore, *, max_group: int = 200, parallel: int = 2) -> None:
        self._runs = runs
        self._max_group = max_group
        self._parallel = parallel
        self._queue: list[tuple[RunChange, asyncio.Future[None]]] = []
        self._flushers: set[asyncio.Task[None]] = set()  # kept referenced while they run
        self._active = 0

    async def commit(self, change: RunChange) -> None:
        """Write `change`, raising what `RunStore.commit([change])` would raise."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((change, done))
        if self._active < self._parallel:
            self._active += 1
            task = asyncio.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        await done

    async def _flush(self) -> None:
        try:
            while self._queue:
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
                await self._write(group)
        finally:
            self._active -= 1  # in the same step as the empty check: no change is stranded

    async def _write(self, group: Sequence[tuple[RunChange, asyncio.Future[None]]]) -> None:
        try:
            await self._runs.commit([change for change, _ in group])
        except (ConcurrencyConflict, DuplicateRun) as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            for change, done in group:  # find out whose change it was
                try:
                    await self._runs.commit([change])
                except Exception as alone:
                    _settle(done, alone)
                else:
                    _settle(done, None)
            return
        except Exception as exc:
            for _, done in group:
                _settle(done, exc)
            return
        for _, done in group:
            _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled; its change was still written (or not)
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
