"""Work a listener starts after its ack: tracked, so stopping waits for it, and never silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("countersign.slack")


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(work, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("Slack: %s failed", task.get_name(), exc_info=error)

    async def drain(self) -> None:
        """Wait until all work started so far (and what it starts) is done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
