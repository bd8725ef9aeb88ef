"""The run store: appends under optimistic concurrency, projections, idempotency, listing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from engine.commands import Timer
from engine.decider.decision import Decision
from engine.errors import ConcurrencyConflict, DuplicateRun, InvalidInput, NotFound
from engine.events import RunStarted
from engine.ports import KeyedRun, RunChange
from storage.commit import plan_commit
from tests.storage.builders import T0, approve, new_run


async def test_commit_appends_events_in_seq_order_and_load_returns_the_state(
    store_backend: Any,
) -> None:
    runs = store_backend.runs
    started = new_run()
    await runs.commit([started])
    approved = approve(started.state)
    await runs.commit([approved])
    assert await runs.load("T1", "r1") == approved.state
    recorded = await runs.events("T1", "r1")
    assert [e.seq for e in recorded] == [1, 2, 3, 4]
    assert [e.event for e in recorded] == started.decision.events + approved.decision.events
    assert isinstance(recorded[0].event, RunStarted)
    assert recorded[0].event.at == T0  # timezone-aware UTC on every backend


async def test_a_stale_expected_seq_is_refused_and_writes_nothing(store_backend: Any) -> None:
    runs = store_backend.runs
    started = new_run()
    await runs.commit([started])
    await runs.commit([approve(started.state, "U_A")])
    other = new_run("r2")
    with pytest.raises(ConcurrencyConflict):
        # Made on the old state: the whole batch is refused, r2 included.
        await runs.commit([other, approve(started.state, "U_B")])
    with pytest.raises(NotFound):
        await runs.load("T1", "r2")
    assert len(await runs.events("T1", "r1")) == 4
    assert [t.id for t in await store_backend.timers.claim_due(T0 + timedelta(days=9), 9, _L)] == []


async def test_a_stale_change_without_events_writes_nothing_either(store_backend: Any) -> None:
    # No event row collides here: only the guard on the run's seq can refuse it.
    runs = store_backend.runs
    started = new_run()
    await runs.commit([started])
    await runs.commit([approve(started.state, "U_A")])
    timer = Timer(id="stale", tenant_id="T1", run_id="r1", due_at=T0, kind="wait")
    stale = RunChange(
        state=started.state, expected_seq=started.state.seq, decision=Decision(timers=[timer])
    )
    with pytest.raises(ConcurrencyConflict):
        await runs.commit([new_run("r2"), stale])
    with pytest.raises(NotFound):
        await runs.load("T1", "r2")
    assert [t.id for t in await store_backend.timers.claim_due(T0 + timedelta(days=9), 9, _L)] == []


async def test_of_two_concurrent_commits_on_one_run_exactly_one_wins(store_backend: Any) -> None:
    runs = store_backend.runs
    started = new_run()
    await runs.commit([started])
    outcomes = await asyncio.gather(
        runs.commit([approve(started.state, "U_A")]),
        runs.commit([approve(started.state, "U_B")]),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrencyConflict", "NoneType"]
    winner = "U_A" if outcomes[0] is None else "U_B"
    state = await runs.load("T1", "r1")
    assert [v.actor for v in state.steps["manager"].votes] == [winner]
    assert [e.seq for e in await runs.events("T1", "r1")] == [1, 2, 3, 4]


async def test_starting_the_same_run_twice_is_a_conflict(store_backend: Any) -> None:
    await store_backend.runs.commit([new_run()])
    with pytest.raises(ConcurrencyConflict):
        await store_backend.runs.commit([new_run()])


async def test_a_reused_idempotency_key_names_the_existing_run(store_backend: Any) -> None:
    runs = store_backend.runs
    first = new_run("r1", idempotency_key="req-42")
    first.request_hash = "a" * 64
    await runs.commit([first])
    with pytest.raises(DuplicateRun) as raised:
        await runs.commit([new_run("r2", idempotency_key="req-42")])
    assert raised.value.run_id == "r1"
    assert await runs.run_for_idempotency_key("T1", "req-42") == "r1"
    # The key keeps the hash of the request that used it, for telling a retry from a reuse.
    assert await runs.keyed_run("T1", "req-42") == KeyedRun("r1", "a" * 64)
    assert await runs.run_for_idempotency_key("T1", "other") is None
    # Keys belong to a tenant.
    assert await runs.run_for_idempotency_key("T2", "req-42") is None
    await runs.commit([new_run("r3", "T2", idempotency_key="req-42")])
    assert await runs.run_for_idempotency_key("T2", "req-42") == "r3"
    assert await runs.keyed_run("T2", "req-42") == KeyedRun("r3", None)


async def test_a_change_whose_state_does_not_count_its_events_is_a_bug(store_backend: Any) -> None:
    change = new_run()
    change.state.seq = 5
    with pytest.raises(ValueError, match=r"state\.seq is 5"):
        await store_backend.runs.commit([change])


async def test_several_changes_of_one_run_in_one_batch(store_backend: Any) -> None:
    started = new_run()
    approved = approve(started.state)
    await store_backend.runs.commit([started, approved])
    assert await store_backend.runs.load("T1", "r1") == approved.state
    assert await store_backend.runs.pending_tasks("T1") == []
    # The approval cancelled the timer the start armed, within the same batch.
    assert await store_backend.timers.next_due() is None


async def test_pending_tasks_follow_the_state(store_backend: Any) -> None:
    runs = store_backend.runs
    first = new_run("r1", approvers=("U_A", "U_B"))
    later = new_run("r2", approvers=("U_B",), at=T0 + timedelta(minutes=1))
    await runs.commit([first, later])
    pending = await runs.pending_tasks("T1")
    assert [(p.run_id, p.principal) for p in pending] == [
        ("r1", "U_A"),
        ("r1", "U_B"),
        ("r2", "U_B"),
    ]
    assert pending[0].kind == "approval" and pending[0].workflow == "expense"
    assert pending[0].requester == "U_REQ" and pending[0].since == T0
    assert [p.run_id for p in await runs.pending_tasks("T1", "U_B")] == ["r1", "r2"]
    assert [p.run_id for p in await runs.pending_tasks("T1", "U_B", limit=1, offset=1)] == ["r2"]
    await runs.commit([approve(first.state, "U_A")])
    assert [(p.run_id, p.principal) for p in await runs.pending_tasks("T1")] == [("r2", "U_B")]
    assert await runs.pending_tasks("T2") == []


async def test_tenants_are_isolated(store_backend: Any) -> None:
    runs = store_backend.runs
    await runs.commit([new_run("r1", "T1")])
    with pytest.raises(NotFound):
        await runs.load("T2", "r1")
    with pytest.raises(NotFound):
        await runs.events("T2", "r1")
    assert (await runs.list_runs("T2")).runs == []
    assert await runs.pending_tasks("T2", "U_A") == []
    # The same run id in another tenant is another run.
    await runs.commit([new_run("r1", "T2", requester="U_OTHER")])
    assert (await runs.load("T2", "r1")).requester == "U_OTHER"
    assert (await runs.load("T1", "r1")).requester == "U_REQ"


async def test_list_runs_filters_newest_first(store_backend: Any) -> None:
    runs = store_backend.runs
    await runs.commit(
        [
            new_run("a", at=T0, workflow="expense", requester="U_1"),
            new_run("b", at=T0 + timedelta(minutes=1), workflow="travel", requester="U_1"),
            new_run("c", at=T0 + timedelta(minutes=2), workflow="expense", requester="U_2"),
        ]
    )
    started = await runs.load("T1", "a")
    await runs.commit([approve(started)])
    assert [r.run_id for r in (await runs.list_runs("T1")).runs] == ["c", "b", "a"]
    assert [r.run_id for r in (await runs.list_runs("T1", workflow="expense")).runs] == ["c", "a"]
    assert [r.run_id for r in (await runs.list_runs("T1", requester="U_1")).runs] == ["b", "a"]
    assert [r.run_id for r in (await runs.list_runs("T1", status="running")).runs] == [
        "c",
        "b",
        "a",
    ]
    assert (await runs.list_runs("T1", status="completed")).runs == []
    assert (await runs.list_runs("T1")).runs[2].current_step == "book"


async def test_list_runs_pages_with_a_cursor(store_backend: Any) -> None:
    runs = store_backend.runs
    # Two runs share a start time: the run id breaks the tie, so no page repeats or skips one.
    times = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    await runs.commit([new_run(f"r{i}", at=t) for i, t in enumerate(times)])
    seen, cursor, pages = [], None, 0
    while True:
        page = await runs.list_runs("T1", limit=3 if pages == 0 else 1, cursor=cursor)
        seen += [r.run_id for r in page.runs]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["r3", "r2", "r1", "r0"]
    assert pages == 2
    exact = await runs.list_runs("T1", limit=4)
    assert exact.next_cursor is None
    with pytest.raises(InvalidInput, match="cursor"):
        await runs.list_runs("T1", cursor="not-a-cursor")


_L = timedelta(minutes=1)


async def test_a_batch_moves_many_runs_or_none(store_backend: Any) -> None:
    runs = store_backend.runs
    started = [new_run(f"r{i}", approvers=("U_A",)) for i in range(3)]
    await runs.commit(started)
    await runs.commit([approve(started[0].state)])
    # r0 moved on meanwhile: approving all three from their old states fails as a whole.
    with pytest.raises(ConcurrencyConflict):
        await runs.commit([approve(s.state) for s in started])
    assert [(await runs.load("T1", f"r{i}")).seq for i in range(3)] == [4, 2, 2]
    approved = [approve(s.state) for s in started[1:]]
    await runs.commit(approved)
    assert [await runs.load("T1", f"r{i}") for i in (1, 2)] == [c.state for c in approved]
    assert await runs.pending_tasks("T1") == []


async def test_changes_of_one_run_in_a_batch_must_chain(store_backend: Any) -> None:
    started = new_run()
    await store_backend.runs.commit([started])
    with pytest.raises(ConcurrencyConflict):
        await store_backend.runs.commit([approve(started.state, "U_A"), approve(started.state)])
    assert (await store_backend.runs.load("T1", "r1")).seq == 2


async def test_an_approver_listed_twice_has_one_pending_task(store_backend: Any) -> None:
    await store_backend.runs.commit([new_run(approvers=("U_A", "U_A"))])
    assert [p.principal for p in await store_backend.runs.pending_tasks("T1")] == ["U_A"]


async def test_concurrent_batches_over_the_same_runs_conflict_cleanly(store_backend: Any) -> None:
    started = [new_run(f"r{i}", approvers=("U_A", "U_B")) for i in range(4)]
    await store_backend.runs.commit(started)
    forward = [approve(s.state, "U_A") for s in started]
    backward = [approve(s.state, "U_B") for s in reversed(started)]
    outcomes = await asyncio.gather(
        store_backend.runs.commit(forward),
        store_backend.runs.commit(backward),
        return_exceptions=True,
    )
    # Rows are locked in one order whatever the batch order: a conflict, never a deadlock.
    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrencyConflict", "NoneType"]
    winner = "U_A" if outcomes[0] is None else "U_B"
    for i in range(4):
        votes = (await store_backend.runs.load("T1", f"r{i}")).steps["manager"].votes
        assert [v.actor for v in votes] == [winner]


async def test_list_runs_of_a_participant_pages_through_the_runs_they_take_part_in(
    store_backend: Any,
) -> None:
    runs = store_backend.runs
    bob = "email:bob_b@example.com"  # "_" must not match any character in the database
    changes = [
        new_run("r0", at=T0, approvers=(bob, "U_A")),
        new_run("r1", at=T0 + timedelta(minutes=1)),
        new_run("r2", at=T0 + timedelta(minutes=2), approvers=("email:bobXb@example.com",)),
        new_run("r3", at=T0 + timedelta(minutes=3), requester=bob),
        new_run("r4", at=T0 + timedelta(minutes=4)),
    ]
    # r1 only mentions Bob in an input: the name in its JSON is not enough.
    changes[1] = replace(
        changes[1], state=changes[1].state.model_copy(update={"inputs": {"cc": bob}})
    )
    await runs.commit(changes)
    await runs.commit([approve(await runs.load("T1", "r0"), bob)])  # decided, still takes part
    assert [r.run_id for r in (await runs.list_runs("T1", participant=bob)).runs] == ["r3", "r0"]
    first = await runs.list_runs("T1", participant=bob, limit=1)
    assert [r.run_id for r in first.runs] == ["r3"] and first.next_cursor
    rest = await runs.list_runs("T1", participant=bob, limit=1, cursor=first.next_cursor)
    assert [r.run_id for r in rest.runs] == ["r0"] and rest.next_cursor is None
    assert (await runs.list_runs("T1", participant="email:nobody@example.com")).runs == []


async def test_someone_who_joins_a_run_later_finds_it_in_their_list(store_backend: Any) -> None:
    runs = store_backend.runs
    await runs.commit([new_run("r0", approvers=("U_A",))])
    assert (await runs.list_runs("T1", participant="U_ADMIN")).runs == []
    # An admin decides on someone else's behalf: they take part from then on.
    await runs.commit([approve(await runs.load("T1", "r0"), "U_ADMIN")])
    assert [r.run_id for r in (await runs.list_runs("T1", participant="U_ADMIN")).runs] == ["r0"]
    assert [r.run_id for r in (await runs.list_runs("T1", participant="U_A")).runs] == ["r0"]


def test_a_commit_writes_participant_rows_only_for_newcomers() -> None:
    start = new_run("r0", approvers=("U_A",))
    first = plan_commit([start])
    assert [r["principal"] for r in first.participants] == ["U_A", "U_REQ"]
    decided = approve(start.state, "U_A")
    head = {("T1", "r0"): "0" * 64}
    assert plan_commit([decided], head, first.people).participants == []
    assert len(plan_commit([decided], head).participants) == 2  # unknown here: all, ignored
    by_admin = approve(start.state, "U_ADMIN")
    joined = plan_commit([by_admin], head, first.people).participants
    assert [r["principal"] for r in joined] == ["U_ADMIN"]


async def test_get_many_reads_the_runs_of_one_tenant_in_one_call(store_backend: Any) -> None:
    runs = store_backend.runs
    ids = [f"r{i:04d}" for i in range(1_100)]  # more than one IN (...) chunk
    await runs.commit([new_run(i, at=T0 + timedelta(seconds=n)) for n, i in enumerate(ids)])
    await runs.commit([new_run("theirs", tenant_id="T2")])
    asked = [*reversed(ids), ids[0], "missing", "theirs"]
    found = await runs.get_many("T1", asked)
    assert set(found) == set(ids)  # unknown ids and another tenant's run are left out
    assert found["r0007"] == await runs.load("T1", "r0007")
    assert await runs.get_many("T1", []) == {}
