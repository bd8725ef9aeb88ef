"""Fixtures for scheduled starts: engines on every store backend (memory, SQLite, PostgreSQL)
sharing one manual clock; a second engine on the same stores is another replica, or the process
after a restart."""

from __future__ import annotations

# The engines of the runtime tests: the same stores, one manual clock.
from tests.runtime.conftest import TENANT, EngineFactory, engine, http, make_engine

__all__ = ["TENANT", "EngineFactory", "engine", "http", "make_engine", "workflow"]


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
