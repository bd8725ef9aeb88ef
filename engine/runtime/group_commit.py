"""Group commit: changes submitted at the same time (many people deciding, many runs starting)
are written in one transaction instead of one each, which is what bounds throughput.

Nothing waits to fill a batch: a change is written at once when no commit is in flight, and the
changes that arrive while one is in flight go together in the next. When a group fails because of
one of its changes (a conflict, a reused idempotency key), each change is retried alone, so every
caller gets the outcome of its own change. A group that cannot be written because of some of
its changes (values the store cannot keep, or any other error the database would not give every
change) is written again without them, so only their callers fail (see `commit_apart`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from engine.errors import ConcurrencyConflict, DuplicateRun, EngineError, Unrecordable
from engine.ports import RunChange, RunStore
from engine.recordable import run_of


async def commit_apart(
    runs: RunStore, changes: Sequence[RunChange], failed: Exception | None = None
) -> list[Exception | None]:
    """Commit `changes` in one transaction (`failed`: it was tried, and failed so). When it
    cannot be written because of some of the changes, write the others without them, so that
    only those fail. Returns, per change, None (written) or why not. Only failures pay:

    - values the store cannot keep (`Unrecordable`): the suspects it names are tried alone and
      the rest together (no suspect named: halves), until each offender is alone;
    - a conflict or a reused key: every change gets it (the callers know what to do);
    - any other error names no change: the database's (down, broken), or one change it cannot
      take. Halves are tried: both failing is the database's, and every change gets its error
      (three attempts in all); otherwise the half that failed is searched further.
    """
    if failed is None:
        try:
            await runs.commit(changes)
        except Exception as exc:
            failed = exc
        else:
            return [None] * len(changes)
    if len(changes) == 1 or isinstance(failed, ConcurrencyConflict | DuplicateRun):
        return [failed] * len(changes)
    half = len(changes) // 2
    halves = [list(range(half)), list(range(half, len(changes)))]
    # The parts still to write, each with how it already failed (None: not tried yet).
    todo: list[tuple[list[int], Exception | None]] = []
    if isinstance(failed, Unrecordable):
        suspects = [i for i, change in enumerate(changes) if run_of(change) in failed.suspects]
        todo = [(part, None) for part in halves]
        if suspects and len(suspects) < len(changes):
            rest = [i for i in range(len(changes)) if i not in set(suspects)]
            todo = [(rest, None), *(([i], None) for i in suspects)]
    else:
        for part in halves:
            try:
                await runs.commit([changes[i] for i in part])
            except Exception as exc:
                todo.append((part, exc))
        if len(todo) == 2 and not any(isinstance(e, EngineError) for _, e in todo):
            return [failed] * len(changes)  # the database's, not a change's
    results: list[Exception | None] = [None] * len(changes)
    for part, error in todo:
        written = await commit_apart(runs, [changes[i] for i in part], error)
        for i, result in zip(part, written, strict=True):
            results[i] = result
    return results


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
