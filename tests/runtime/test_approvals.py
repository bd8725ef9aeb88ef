"""Approval policies under concurrent decisions, and who may decide or cancel."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import InvalidInput, NotAllowed, NotFound, StepNotPending
from engine.runtime.service import Engine
from engine.state import RunState
from tests.runtime.conftest import TENANT, Target, setup

APPROVERS = ["UAPP1", "UAPP2", "UAPP3", "UAPP4", "UAPP5"]


def flow(policy: str) -> str:
    return f"""
name: vote
steps:
  - id: vote
    type: approval
    approvers: [{", ".join(APPROVERS)}]
    policy: {policy}
  - id: after
    type: http
    url: TARGET/after
"""


async def decide_all(engine: Engine, run_id: str, votes: dict[str, str]) -> list[object]:
    """Every approver's decision at the same time, as several Slack clicks would arrive."""
    return await asyncio.gather(
        *(engine.decide(TENANT, run_id, "vote", who, what) for who, what in votes.items()),
        return_exceptions=True,
    )


@pytest.mark.parametrize(
    ("policy", "votes", "outcome"),
    [
        ("any", {"UAPP1": "approve"}, "approved"),
        ("any", {"UAPP1": "reject"}, "rejected"),
        ("all", dict.fromkeys(APPROVERS, "approve"), "approved"),
        ("all", {"UAPP1": "approve", "UAPP2": "reject", "UAPP3": "approve"}, "rejected"),
        ("majority", {"UAPP1": "approve", "UAPP2": "approve", "UAPP3": "approve"}, "approved"),
        ("majority", {"UAPP1": "reject", "UAPP2": "reject", "UAPP3": "reject"}, "rejected"),
        ("{n: 2}", {"UAPP1": "approve", "UAPP4": "approve"}, "approved"),
        (
            "{n: 2}",
            {"UAPP1": "reject", "UAPP2": "reject", "UAPP3": "reject", "UAPP4": "reject"},
            "rejected",
        ),
    ],
)
async def test_concurrent_decisions_reach_exactly_the_policy_outcome(
    engine: Engine, target: Target, policy: str, votes: dict[str, str], outcome: str
) -> None:
    await setup(engine, target, flow(policy))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()

    results = await decide_all(engine, run.run_id, votes)
    # A decision arriving after the outcome is refused with a clear error, never lost silently.
    refused = {who for who, r in zip(votes, results, strict=True) if isinstance(r, Exception)}
    assert all(isinstance(r, StepNotPending | RunState) for r in results), results
    await engine.run_until_idle()

    run = await engine.get_run(TENANT, run.run_id)
    step = run.steps["vote"]
    assert step.outcome == outcome
    # Every accepted decision is recorded exactly once.
    assert sorted(v.actor for v in step.votes) == sorted(set(votes) - refused)
    recorded = [e.event for e in await engine.timeline(TENANT, run.run_id)]
    actors = [e.actor for e in recorded if e.type == "decision_recorded"]
    assert sorted(actors) == sorted(set(votes) - refused)
    assert len([e for e in recorded if e.type == "step_completed" and e.step_id == "vote"]) == 1
    assert run.status == ("completed" if outcome == "approved" else "rejected")
    assert target.paths() == (["POST /after"] if outcome == "approved" else [])


async def test_a_decision_after_the_outcome_is_refused(engine: Engine, target: Target) -> None:
    await setup(engine, target, flow("any"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    await engine.decide(TENANT, run.run_id, "vote", "UAPP1", "approve")
    with pytest.raises(StepNotPending, match="step vote is not waiting"):
        await engine.decide(TENANT, run.run_id, "vote", "UAPP2", "reject")


async def test_the_same_decision_twice_is_refused_and_changes_nothing(
    engine: Engine, target: Target
) -> None:
    await setup(engine, target, flow("all"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    first = await engine.decide(TENANT, run.run_id, "vote", "UAPP1", "approve", channel="slack")
    again = await asyncio.gather(
        engine.decide(TENANT, run.run_id, "vote", "UAPP1", "approve", channel="slack"),
        engine.decide(TENANT, run.run_id, "vote", "UAPP1", "approve", channel="email"),
        return_exceptions=True,
    )
    assert [getattr(e, "code", e) for e in again] == ["already_voted", "already_voted"]
    stored = await engine.get_run(TENANT, run.run_id)
    assert [v.actor for v in stored.steps["vote"].votes] == ["UAPP1"]
    assert stored.seq == first.seq


async def test_a_non_approver_is_refused(engine: Engine, target: Target) -> None:
    await setup(engine, target, flow("any"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    with pytest.raises(NotAllowed):
        await engine.decide(TENANT, run.run_id, "vote", "UOTHER", "approve")
    stored = await engine.get_run(TENANT, run.run_id)
    assert stored.steps["vote"].votes == [] and stored.steps["vote"].status == "waiting"


async def test_another_workspace_cannot_see_or_decide(engine: Engine, target: Target) -> None:
    await setup(engine, target, flow("any"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    with pytest.raises(NotFound):
        await engine.decide("T2", run.run_id, "vote", "UAPP1", "approve")
    with pytest.raises(NotFound):
        await engine.cancel("T2", run.run_id, "UREQ")
    with pytest.raises(NotFound):
        await engine.get_run("T2", run.run_id)
    assert await engine.pending_for("T2", "UAPP1") == []
    assert (await engine.get_run(TENANT, run.run_id)).steps["vote"].votes == []


async def test_an_operator_override_decides_for_an_approver(engine: Engine, target: Target) -> None:
    await setup(engine, target, flow("any"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    state = await engine.decide(
        TENANT, run.run_id, "vote", "UOPS", "approve", channel="cli", override=True, admin=True
    )
    vote = state.steps["vote"].votes[0]
    assert (vote.actor, vote.override, vote.channel) == ("UOPS", True, "cli")


async def test_bad_decision_words_are_refused_clearly(engine: Engine, target: Target) -> None:
    await setup(engine, target, flow("any"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    with pytest.raises(InvalidInput, match="decision: 'maybe' is not approve or reject"):
        await engine.decide(TENANT, run.run_id, "vote", "UAPP1", "maybe")
    with pytest.raises(InvalidInput, match="channel: 'fax' is not one of"):
        await engine.decide(TENANT, run.run_id, "vote", "UAPP1", "approve", channel="fax")


async def test_only_the_requester_or_an_admin_may_cancel(engine: Engine, target: Target) -> None:
    await setup(engine, target, flow("any"))
    run = await engine.start_run(TENANT, "vote", {}, "UREQ")
    await engine.run_until_idle()
    with pytest.raises(NotAllowed, match=r"only the requester \(UREQ\) or an admin"):
        await engine.cancel(TENANT, run.run_id, "UAPP1")
    state = await engine.cancel(TENANT, run.run_id, "UADMIN", reason="stale", admin=True)
    assert state.status == "cancelled"
    assert state.cancelled_by == "UADMIN"
