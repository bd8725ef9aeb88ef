"""Fixtures for scheduled starts: engines on every store backend (memory, SQLite, PostgreSQL)
sharing one manual clock; a second engine on the same stores is another replica, or the process
after a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from engine.memory import ManualClock, MemoryStorage
from engine.runtime.service import Engine
from storage import Storage

TENANT = "T1"
EngineFactory = Callable[[], Awaitable[Engine]]


@pytest.fixture
async def make_engine(
    store_backend: MemoryStorage | Storage, clock: ManualClock
) -> AsyncIterator[EngineFactory]:
    made: list[Engine] = []

    async def make() -> Engine:
        engine = Engine.from_storage(store_backend, clock=clock)
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in made:
            await engine.stop()


@pytest.fixture
async def engine(make_engine: EngineFactory) -> Engine:
    return await make_engine()


def workflow(schedule: str, name: str = "report") -> str:
    """A workflow that starts on `schedule` (YAML lines under `schedule:`) and then waits for a
    signal, so each run it starts stays visible and does nothing else."""
    lines = "\n".join(f"  {line}" for line in schedule.strip().splitlines())
    return f"""
name: {name}
inputs:
  - id: region
    type: text
    required: true
steps:
  - id: done
    type: signal
schedule:
{lines}
"""
