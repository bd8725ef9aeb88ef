"""Outbox and timers: claims with leases, completion, retries, at-least-once re-delivery."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from engine.commands import RequestApproval, Timer
from engine.decider.decision import Decision
from engine.ports import RunChange
from storage import Storage, open_storage
from tests.storage.builders import T0, approve, new_run

LEASE = timedelta(seconds=30)
LATER = T0 + timedelta(seconds=1)


async def test_committed_commands_are_claimed_once_in_order(store_backend: Any) -> None:
    started = new_run()
    await store_backend.runs.commit([started])
    claimed = await store_backend.outbox.claim(LATER, 10, LEASE)
    assert [i.command for i in claimed] == started.decision.commands
    assert [i.attempts for i in claimed] == [0, 0]
    assert claimed[0].id < claimed[1].id
    # Held by the lease: nobody else gets them.
    assert await store_backend.outbox.claim(LATER, 10, LEASE) == []


async def test_commands_are_not_due_before_the_change_that_made_them(store_backend: Any) -> None:
    await store_backend.runs.commit([new_run()])
    assert await store_backend.outbox.claim(T0 - timedelta(seconds=1), 10, LEASE) == []
    assert len(await store_backend.outbox.claim(T0, 1, LEASE)) == 1


async def test_complete_and_done_command_end_a_command(store_backend: Any) -> None:
    started = new_run()
    await store_backend.runs.commit([started])
    first, second = await store_backend.outbox.claim(LATER, 10, LEASE)
    await store_backend.outbox.complete(first.command.key)
    # The approval records the outcome of the second command in the same transaction.
    await store_backend.runs.commit([approve(started.state, done_command=second.command.key)])
    after_lease = T0 + timedelta(minutes=10)  # the approval came at T0 + 5 minutes
    assert await store_backend.outbox.pending_count(after_lease) == (1, 300.0)
    remaining = await store_backend.outbox.claim(after_lease, 10, LEASE)
    assert [i.command.type for i in remaining] == ["run_changed"]


async def test_a_claimer_that_died_lets_the_command_be_claimed_again(store_backend: Any) -> None:
    await store_backend.runs.commit([new_run(approvers=("U_A",))])
    (first,) = await store_backend.outbox.claim(LATER, 10, LEASE)
    assert await store_backend.outbox.claim(LATER + LEASE - timedelta(seconds=1), 10, LEASE) == []
    (again,) = await store_backend.outbox.claim(LATER + LEASE, 10, LEASE)
    assert (again.id, again.command, again.attempts) == (first.id, first.command, 1)


async def test_retry_later_releases_until_the_given_time(store_backend: Any) -> None:
    await store_backend.runs.commit([new_run(approvers=("U_A",))])
    (item,) = await store_backend.outbox.claim(LATER, 10, LEASE)
    retry_at = LATER + timedelta(seconds=5)
    await store_backend.outbox.retry_later(item.command.key, retry_at, "slack unreachable")
    assert await store_backend.outbox.claim(retry_at - timedelta(seconds=1), 10, LEASE) == []
    (again,) = await store_backend.outbox.claim(retry_at, 10, LEASE)
    assert (again.id, again.attempts) == (item.id, 1)


async def test_pending_count_reports_the_oldest_due_command(store_backend: Any) -> None:
    assert await store_backend.outbox.pending_count(T0) == (0, 0.0)
    await store_backend.runs.commit([new_run()])
    await store_backend.runs.commit([new_run("r2", at=T0 + timedelta(seconds=30))])
    assert await store_backend.outbox.pending_count(T0 + timedelta(seconds=10)) == (4, 10.0)


async def test_a_command_key_queued_twice_is_one_command(store_backend: Any) -> None:
    started = new_run(approvers=("U_A",))
    await store_backend.runs.commit([started])
    again = approve(started.state)
    again.decision.commands.append(started.decision.commands[0])
    await store_backend.runs.commit([again])
    claimed = await store_backend.outbox.claim(again.state.updated_at, 10, LEASE)
    assert [i.command.type for i in claimed] == ["request_approval", "run_changed"]


async def test_concurrent_claimers_never_share_a_row(store_backend: Any) -> None:
    await _queue_commands(store_backend, 40)
    batches = await asyncio.gather(*(store_backend.outbox.claim(LATER, 7, LEASE) for _ in range(8)))
    ids = [item.id for batch in batches for item in batch]
    assert len(ids) == len(set(ids)) == 40


async def test_two_connections_claiming_at_once_never_share_a_row(
    storage: Storage, database_url: str
) -> None:
    # A second process: its own engine and connection pool on the same database.
    await _queue_commands(storage, 60)
    other = await open_storage(database_url)
    try:
        batches = await asyncio.gather(
            *(s.outbox.claim(LATER, 5, LEASE) for s in [storage, other] * 6)
        )
    finally:
        await other.close()
    ids = [item.id for batch in batches for item in batch]
    assert len(ids) == len(set(ids)) == 60


async def _queue_commands(store_backend: Any, count: int) -> None:
    started = new_run(approvers=("U_A",))
    await store_backend.runs.commit([started])
    state = started.state.model_copy(update={"seq": 3})
    await store_backend.runs.commit(
        [
            RunChange(
                state=state,
                expected_seq=2,
                decision=Decision(
                    events=[started.decision.events[1]],
                    commands=[
                        RequestApproval(
                            key=f"bulk:{i}",
                            tenant_id="T1",
                            run_id="r1",
                            step_id="manager",
                            approver=f"U_{i}",
                        )
                        for i in range(count - 1)
                    ],
                ),
            )
        ]
    )


# ---------------------------------------------------------------- timers


def timer(timer_id: str, due_in: timedelta, tenant_id: str = "T1", attempt: int = 0) -> Timer:
    return Timer(
        id=timer_id,
        tenant_id=tenant_id,
        run_id="r1",
        due_at=T0 + due_in,
        kind="retry",
        step_id="book",
        attempt=attempt,
    )


async def _arm(
    store_backend: Any, *timers: Timer, expected: int = 2, fired: str | None = None
) -> int:
    """Commit a change of run r1 (started first if needed) that arms `timers`."""
    if expected == 2:
        await store_backend.runs.commit([new_run()])
        await store_backend.timers.drop("r1:manager:timeout")
    state = (await store_backend.runs.load("T1", "r1")).model_copy(update={"seq": expected + 1})
    event = new_run().decision.events[1]
    await store_backend.runs.commit(
        [
            RunChange(
                state=state,
                expected_seq=expected,
                decision=Decision(events=[event], timers=list(timers)),
                fired_timer=fired,
            )
        ]
    )
    return expected + 1


async def test_timers_are_claimed_when_due_earliest_first(store_backend: Any) -> None:
    late, early = timer("late", timedelta(minutes=10)), timer("early", timedelta(minutes=5))
    await _arm(store_backend, late, early)
    timers = store_backend.timers
    assert await timers.next_due() == early.due_at
    assert await timers.claim_due(T0 + timedelta(minutes=4), 10, LEASE) == []
    assert await timers.claim_due(T0 + timedelta(minutes=20), 10, LEASE) == [early, late]
    assert await timers.claim_due(T0 + timedelta(minutes=20), 10, LEASE) == []


async def test_a_claimed_timer_fires_again_after_its_lease_until_consumed(
    store_backend: Any,
) -> None:
    due = timer("t", timedelta(minutes=5))
    seq = await _arm(store_backend, due)
    now = due.due_at
    assert await store_backend.timers.claim_due(now, 10, LEASE) == [due]
    # While held, the wake-up time is the end of the lease, not the past due time.
    assert await store_backend.timers.next_due() == now + LEASE
    assert await store_backend.timers.claim_due(now + LEASE, 10, LEASE) == [due]
    await _arm(store_backend, expected=seq, fired="t")
    assert await store_backend.timers.claim_due(now + LEASE * 3, 10, LEASE) == []
    assert await store_backend.timers.next_due() is None


async def test_arming_the_same_id_replaces_the_timer(store_backend: Any) -> None:
    seq = await _arm(store_backend, timer("retry", timedelta(minutes=1)))
    assert len(await store_backend.timers.claim_due(T0 + timedelta(minutes=1), 10, LEASE)) == 1
    moved = timer("retry", timedelta(minutes=3), attempt=2)
    await _arm(store_backend, moved, expected=seq)
    assert await store_backend.timers.next_due() == moved.due_at
    assert await store_backend.timers.claim_due(T0 + timedelta(minutes=3), 10, LEASE) == [moved]


async def test_cancelled_and_dropped_timers_are_gone(store_backend: Any) -> None:
    await _arm(store_backend, timer("a", timedelta(minutes=1)), timer("b", timedelta(minutes=2)))
    await store_backend.timers.drop("a")
    started = await store_backend.runs.load("T1", "r1")
    cancel = approve(started)
    cancel.decision.cancel_timers.append("b")
    await store_backend.runs.commit([cancel])
    assert await store_backend.timers.next_due() is None


async def test_concurrent_timer_claims_never_share_a_timer(store_backend: Any) -> None:
    await _arm(store_backend, *(timer(f"t{i}", timedelta(seconds=i)) for i in range(30)))
    batches = await asyncio.gather(
        *(store_backend.timers.claim_due(T0 + timedelta(hours=1), 4, LEASE) for _ in range(10))
    )
    ids = [t.id for batch in batches for t in batch]
    assert len(ids) == len(set(ids)) == 30


async def test_complete_many_ends_every_command_given(store_backend: Any) -> None:
    await store_backend.runs.commit([new_run(approvers=("U_A", "U_B", "U_C"))])
    claimed = await store_backend.outbox.claim(LATER, 10, LEASE)
    await store_backend.outbox.complete_many([i.command.key for i in claimed[:2]])
    await store_backend.outbox.complete_many([])
    (left,) = await store_backend.outbox.claim(LATER + LEASE, 10, LEASE)
    assert left.id == claimed[2].id


async def test_a_buried_command_is_not_claimed_until_revived(store_backend: Any) -> None:
    outbox = store_backend.outbox
    await store_backend.runs.commit([new_run("r1", "T1", approvers=("U_A",)), new_run("r2", "T2")])
    first, *_ = await outbox.claim(LATER, 10, LEASE)
    await outbox.bury(first.command.key, LATER, "its outcome cannot be stored: x")
    after = LATER + LEASE * 10
    assert first.command.key not in [i.command.key for i in await outbox.claim(after, 10, LEASE)]
    assert (await outbox.pending_count(after))[0] == 2  # T2's two commands, not the dead one

    [dead] = await outbox.dead()
    assert (dead.id, dead.tenant_id, dead.run_id, dead.step_id) == (first.id, "T1", "r1", "manager")
    assert (dead.type, dead.attempts, dead.dead_at) == ("request_approval", 1, LATER)
    assert dead.last_error == "its outcome cannot be stored: x"
    assert await outbox.dead("T1") == [dead] and await outbox.dead("T2") == []

    assert await outbox.revive(first.id + 1000, after) is None
    assert await outbox.revive(first.id, after) == dead
    assert await outbox.revive(first.id, after) is None  # not dead any more
    assert await outbox.dead() == []
    [again] = await outbox.claim(after, 10, LEASE)
    assert (again.id, again.attempts) == (first.id, 0)  # counted from zero again


async def test_a_done_command_is_never_buried(store_backend: Any) -> None:
    outbox = store_backend.outbox
    await store_backend.runs.commit([new_run(approvers=("U_A",))])
    (item,) = await outbox.claim(LATER, 10, LEASE)
    await outbox.complete(item.command.key)
    await outbox.bury(item.command.key, LATER, "too late")
    assert await outbox.dead() == []
