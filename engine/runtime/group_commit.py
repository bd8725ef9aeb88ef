"""Group commit: changes submitted at the same time (many people deciding, many runs starting)
are written in one transaction instead of one each, which is what bounds throughput.

Nothing waits to fill a batch: a change is written at once when no commit is in flight, and the
changes that arrive while one is in flight go together in the next. When a group fails because of
one of its changes (a conflict, a reused idempotency key), each change is retried alone, so every
caller gets the outcome of its own change. A group the store cannot write because of the values
some changes hold (`Unrecordable`) is written again without them, so only their callers fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.errors import ConcurrencyConflict, DuplicateRun, Unrecordable
from engine.ports import RunChange, RunStore
from engine.recordable import run_of


async def commit_apart(runs: RunStore, changes: Sequence[RunChange]) -> list[Exception | None]:
    """Commit `changes` in one transaction; when it cannot be written because of the values some
    of them hold, write the others without those (the suspects the store named, each alone, or
    else halves), so that only those fail. Returns, per change, None (written) or why not: the
    change's own `Unrecordable`, or an error of the whole transaction (a conflict, the database
    being down) for every change it held. Only failures pay for the split."""
    try:
        await runs.commit(changes)
    except Unrecordable as exc:
        if len(changes) == 1:
            return [exc]
        suspects = [i for i, change in enumerate(changes) if run_of(change) in exc.suspects]
        if suspects and len(suspects) < len(changes):
            rest = [i for i in range(len(changes)) if i not in set(suspects)]
            parts = [rest, *([i] for i in suspects)]
        else:
            half = len(changes) // 2
            parts = [list(range(half)), list(range(half, len(changes)))]
        results: list[Exception | None] = [None] * len(changes)
        for part in parts:
            written = await commit_apart(runs, [changes[i] for i in part])
            for i, result in zip(part, written, strict=True):
                results[i] = result
        return results
    except Exception as exc:
        return [exc] * len(changes)
    return [None] * len(changes)


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
        results = await commit_apart(self._runs, [change for change, _ in group])
        if len(group) > 1:
            # A conflict or a reused key refuses the whole transaction: whose change was it?
            for i, (change, _) in enumerate(group):
                if isinstance(results[i], ConcurrencyConflict | DuplicateRun):
                    results[i] = (await commit_apart(self._runs, [change]))[0]
        for (_, done), result in zip(group, results, strict=True):
            _settle(done, result)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled; its change was still written (or not)
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
