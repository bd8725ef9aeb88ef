"""One table of refusals every channel must give alike (Slack, email link, web page, REST, CLI):
the same situation reaches the user with the same refusal code, each channel in its own words.

A case prepares a run through the engine (votes cast before), then names who acts; each
channel's test maps the codes to its own wording and asserts nothing was recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.runtime.service import Engine


@dataclass(frozen=True)
class People:
    requester: str
    a: str  # an approver
    b: str  # another approver
    stranger: str  # not asked


@dataclass(frozen=True)
class Case:
    code: str
    policy: str  # "any": one approval closes the step; "all": both must approve
    actor: str  # which of People acts: "requester", "a", "b" or "stranger"
    before: list[str] = field(default_factory=list)  # who approved before


CASES = [
    Case("not_approver", "any", "stranger"),
    Case("already_voted", "all", "a", ["a"]),
    Case("closed", "any", "b", ["a"]),
    Case("own_request", "any", "requester"),
]
IDS = [c.code for c in CASES]


def gate_flow(policy: str, people: People) -> str:
    """A one-step approval whose approvers include the requester (who is never asked)."""
    approvers = ", ".join(f'"{p}"' for p in (people.requester, people.a, people.b))
    return f"""
name: gate-{policy}
steps:
  - id: review
    type: approval
    title: Review
    approvers: [{approvers}]
    policy: {policy}
    message: "Please review"
"""


async def prepare(
    engine: Engine, tenant: str, people: People, case: Case, *, running: bool = False
) -> tuple[str, str]:
    """(run id, principal who acts) for `case`: its run started, the earlier votes cast
    (`running`: the engine's loops run, so they send the requests and the votes wait)."""
    await engine.apply_definition(tenant, gate_flow(case.policy, people))
    run = await engine.start_run(tenant, f"gate-{case.policy}", {}, people.requester)
    if not running:
        await engine.run_until_idle()
        await vote_before(engine, tenant, run.run_id, people, case)
    return run.run_id, getattr(people, case.actor)


async def vote_before(engine: Engine, tenant: str, run_id: str, people: People, case: Case) -> None:
    for who in case.before:
        await engine.decide(tenant, run_id, "review", getattr(people, who), "approve")


async def unchanged(engine: Engine, tenant: str, run_id: str, case: Case) -> Any:
    """Assert the refused action recorded nothing: only the earlier votes are there."""
    state = await engine.get_run(tenant, run_id)
    assert len(state.steps["review"].votes) == len(case.before), state.steps["review"].votes
    return state
