"""Requests for one run that arrive while it is being changed are decided one after another and
committed together: many approvers clicking at once cost a few commits, and each caller still
gets its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from engine.errors import ConcurrencyConflict, EngineError, Unrecordable
from engine.ports import RunChange
from engine.runtime.service import Engine
from engine.state import RunState
from engine.testing import MemoryStorage
from storage import Storage
from tests.runtime.conftest import TENANT, EngineFactory

APPROVERS = [f"UAPP{i}" for i in range(50)]
FLOW = f"""
name: quorum
steps:
  - id: vote
    type: approval
    approvers: [{", ".join(APPROVERS)}]
    policy: all
"""


class Commits:
    """Counts the store's commits (each one transaction) and the conflicts among them; refuses,
    as values it cannot keep, any that holds a comment saying `poison`."""

    def __init__(self, store: MemoryStorage | Storage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.done = 0
        self.conflicts = 0
        commit = store.runs.commit

        async def counted(changes: Sequence[RunChange]) -> None:
            for change in changes:
                if any(getattr(e, "text", "") == "poison" for e in change.decision.events):
                    raise Unrecordable({"text": "cannot be stored"})
            try:
                await commit(changes)
            except ConcurrencyConflict:
                self.conflicts += 1
                raise
            self.done += 1

        monkeypatch.setattr(store.runs, "commit", counted)


@pytest.fixture
def commits(store_backend: MemoryStorage | Storage, monkeypatch: pytest.MonkeyPatch) -> Commits:
    return Commits(store_backend, monkeypatch)


async def started(engine: Engine) -> str:
    await engine.apply_definition(TENANT, FLOW)
    run = await engine.start_run(TENANT, "quorum", {}, "UREQ")
    await engine.run_until_idle()
    return run.run_id


def vote(engine: Engine, run_id: str, who: str) -> Any:
    return engine.decide(TENANT, run_id, "vote", who, "approve")


async def assert_recorded_once(engine: Engine, run_id: str, voters: list[str]) -> None:
    """Every vote is in the run once, and its events are one contiguous sequence."""
    run = await engine.get_run(TENANT, run_id)
    assert sorted(v.actor for v in run.steps["vote"].votes) == sorted(voters)
    timeline = await engine.timeline(TENANT, run_id)
    assert [e.seq for e in timeline] == list(range(1, run.seq + 1))
    actors = [e.event.actor for e in timeline if e.event.type == "decision_recorded"]
    assert sorted(actors) == sorted(voters)


async def test_many_approvers_at_once_share_a_few_commits(engine: Engine, commits: Commits) -> None:
    run_id = await started(engine)
    before = commits.done
    results = await asyncio.gather(*(vote(engine, run_id, who) for who in APPROVERS))
    assert commits.done - before < 10
    await assert_recorded_once(engine, run_id, APPROVERS)
    assert (await engine.get_run(TENANT, run_id)).status == "completed"
    # Each caller gets the run as its own vote left it.
    for who, state in zip(APPROVERS, results, strict=True):
        assert isinstance(state, RunState)
        assert state.steps["vote"].votes[-1].actor == who
    assert len({state.seq for state in results}) == len(APPROVERS)


async def test_refusals_in_a_batch_go_to_their_own_callers(engine: Engine) -> None:
    run_id = await started(engine)
    await vote(engine, run_id, "UAPP0")
    alone: dict[str, str] = {}
    for who in ("UOTHER", "UAPP0"):  # the codes of these refusals when they come alone
        with pytest.raises(EngineError) as refused:
            await vote(engine, run_id, who)
        alone[who] = refused.value.code
    voters = ["UAPP1", "UOTHER", "UAPP2", "UAPP0", "UAPP3"]
    results = await asyncio.gather(
        *(vote(engine, run_id, w) for w in voters), return_exceptions=True
    )
    codes = {w: getattr(r, "code", "ok") for w, r in zip(voters, results, strict=True)}
    assert codes == {
        "UAPP1": "ok",
        "UOTHER": alone["UOTHER"],
        "UAPP2": "ok",
        "UAPP0": alone["UAPP0"],
        "UAPP3": "ok",
    }
    assert alone == {"UOTHER": "not_approver", "UAPP0": "already_voted"}
    await assert_recorded_once(engine, run_id, ["UAPP0", "UAPP1", "UAPP2", "UAPP3"])


async def test_a_batch_on_a_state_another_process_changed_is_decided_again(
    make_engine: EngineFactory, commits: Commits
) -> None:
    engine = await make_engine()
    run_id = await started(engine)  # this process now holds the run's state
    await vote(await make_engine(), run_id, "UAPP0")  # another process moves the run on
    voters = APPROVERS[1:11]
    await asyncio.gather(*(vote(engine, run_id, who) for who in voters))
    assert commits.conflicts >= 1
    await assert_recorded_once(engine, run_id, ["UAPP0", *voters])


async def test_a_caller_that_gives_up_does_not_stop_the_others(engine: Engine) -> None:
    run_id = await started(engine)
    voters = APPROVERS[:5]
    calls = [asyncio.create_task(vote(engine, run_id, who)) for who in voters]
    await asyncio.sleep(0)  # every request is queued; none is applied yet
    calls[2].cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert all(isinstance(r, RunState) for i, r in enumerate(results) if i != 2)
    run = await engine.get_run(TENANT, run_id)
    others = [who for i, who in enumerate(voters) if i != 2]
    recorded = [v.actor for v in run.steps["vote"].votes]
    await assert_recorded_once(engine, run_id, recorded)
    assert set(others) <= set(recorded)
    # Nothing is left waiting: the next request goes through.
    await vote(engine, run_id, APPROVERS[10])


async def test_a_request_the_store_cannot_take_fails_alone(
    engine: Engine, commits: Commits
) -> None:
    run_id = await started(engine)
    results = await asyncio.gather(
        engine.comment(TENANT, run_id, "UAPP1", "fine"),
        engine.comment(TENANT, run_id, "UAPP2", "poison"),
        vote(engine, run_id, "UAPP3"),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [RunState, Unrecordable, RunState]
    await assert_recorded_once(engine, run_id, ["UAPP3"])
    timeline = await engine.timeline(TENANT, run_id)
    assert [e.event.text for e in timeline if e.event.type == "comment_added"] == ["fine"]
