"""Group commit: simultaneous changes share a transaction, and each caller still gets the
outcome of its own change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from engine.decider.decision import Decision
from engine.errors import ConcurrencyConflict, DuplicateRun, Unrecordable
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
    """Records each transaction; refuses any that holds a run named in `refuse`, and every one
    once `broken` is set."""

    def __init__(self, refuse: dict[str, Exception] | None = None) -> None:
        self.refuse = refuse or {}
        self.broken: Exception | None = None
        self.transactions: list[list[str]] = []
        self.attempts = 0
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()  # a transaction is in flight

    async def commit(self, changes: Sequence[RunChange]) -> None:
        self.waiting.set()
        await self.gate.wait()
        self.attempts += 1
        ids = [c.state.run_id for c in changes]
        if self.broken is not None and ids != ["r0"]:
            raise self.broken
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
    store = Store()
    store.broken = OSError("connection reset")
    group = GroupCommitter(store, parallel=1)  # type: ignore[arg-type]
    pending = await while_first_is_written(group, store, 9)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert results[0] is None
    assert all(isinstance(r, OSError) for r in results[1:])
    assert store.attempts == 1 + 3  # r0, then the group and its two halves: no more
    with pytest.raises(OSError):
        await group.commit(change("r1"))


async def test_a_change_that_fails_unexpectedly_fails_only_its_own_caller() -> None:
    """An error that names no change (a bug, a constraint the database enforces) is searched
    for by halves: the other changes are written."""
    store = Store({"r5": TypeError("a bug")})
    group = GroupCommitter(store, parallel=1)  # type: ignore[arg-type]
    pending = await while_first_is_written(group, store, 9)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert [type(r).__name__ for r in results].count("NoneType") == 8
    assert isinstance(results[5], TypeError)
    assert sorted(run for t in store.transactions for run in t) == [
        f"r{i}" for i in range(9) if i != 5
    ]


async def test_values_the_store_cannot_keep_fail_only_their_own_callers() -> None:
    """The suspects the store names are tried alone, the others together."""
    refused = Unrecordable({"inputs.vendor": "contains a NUL character"}, frozenset({("T1", "r3")}))
    store = Store({"r3": refused, "r6": Unrecordable({"value": "too long"})})
    group = GroupCommitter(store, parallel=1)  # type: ignore[arg-type]
    pending = await while_first_is_written(group, store, 9)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert {i: str(r) for i, r in enumerate(results) if r is not None} == {
        3: "inputs.vendor: contains a NUL character",
        6: "value: too long",
    }
    assert sorted(run for t in store.transactions for run in t) == [
        f"r{i}" for i in range(9) if i not in (3, 6)
    ]
