"""Group commit: simultaneous changes share a transaction, and each caller still gets the
outcome of its own change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from engine.decision import Decision
from engine.errors import ConcurrencyConflict, DuplicateRun
from engine.ports import RunChange
from engine.runtime.group_commit import GroupCommitter
from engine.state import RunState

AT = datetime(2030, 1, 1, tzinfo=UTC)


def change(run_id: str) -> RunChange:
    state = RunState(
        run_id=run_id,
        tenant_id="T1",
        workflow="w",
        version=1,
        requester="UREQ",
        inputs={},
        started_at=AT,
        updated_at=AT,
    )
    return RunChange(state=state, expected_seq=0, decision=Decision())


class Store:
    """Records each transaction; refuses any that holds a run named in `refuse`."""

    def __init__(self, refuse: dict[str, Exception] | None = None) -> None:
        self.refuse = refuse or {}
        self.transactions: list[list[str]] = []
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()  # a transaction is in flight

    async def commit(self, changes: Sequence[RunChange]) -> None:
        self.waiting.set()
        await self.gate.wait()
        ids = [c.state.run_id for c in changes]
        for run_id in ids:
            if run_id in self.refuse:
                raise self.refuse[run_id]
        self.transactions.append(ids)


async def while_first_is_written(
    group: GroupCommitter, store: Store, count: int
) -> list[asyncio.Future[None]]:
    """Submit r0, and r1... while r0's transaction is in flight; then let the database go."""
    first = asyncio.ensure_future(group.commit(change("r0")))
    await store.waiting.wait()
    rest = [asyncio.ensure_future(group.commit(change(f"r{i}"))) for i in range(1, count)]
    await asyncio.sleep(0)
    store.gate.set()
    return [first, *rest]


async def test_changes_arriving_together_share_one_transaction() -> None:
    store = Store()
    group = GroupCommitter(store, parallel=1)  # type: ignore[arg-type]
    pending = await while_first_is_written(group, store, 5)
    await asyncio.gather(*pending)
    assert store.transactions == [["r0"], ["r1", "r2", "r3", "r4"]]


async def test_a_refused_change_fails_only_its_own_caller() -> None:
    store = Store({"r2": ConcurrencyConflict(), "r3": DuplicateRun("r0")})
    group = GroupCommitter(store, parallel=1)  # type: ignore[arg-type]
    pending = await while_first_is_written(group, store, 5)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "NoneType",
        "ConcurrencyConflict",
        "DuplicateRun",
        "NoneType",
    ]
    assert store.transactions == [["r0"], ["r1"], ["r4"]]


async def test_a_broken_database_fails_every_caller_of_the_group() -> None:
    store = Store({"r1": OSError("connection reset")})
    group = GroupCommitter(store, parallel=1)  # type: ignore[arg-type]
    pending = await while_first_is_written(group, store, 3)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert results[0] is None
    assert all(isinstance(r, OSError) for r in results[1:])
    with pytest.raises(OSError):
        await group.commit(change("r1"))
