"""One table of refusals every channel must give alike (Slack, email link, web page, REST, CLI):
the same situation reaches the user with the same refusal code, each channel in its own words.

A case prepares a run through the engine (votes cast before), then names who acts; each
channel's test maps the codes to its own wording and asserts nothing was recorded.

Three tables: a decision (`CASES`); handing a request on, asking its requester, reassigning it
(`HANDOFF_CASES`, each through the channels that offer the action: `OFFERED`); filling in an
input form (`INPUT_CASES`)."""

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


@dataclass(frozen=True)
class HandoffCase(Case):
    action: str = "delegate"  # "delegate" (one's own part), "ask" the requester, "reassign"

    @property
    def id(self) -> str:
        return f"{self.action}-{self.code}"


HANDOFF_CASES = [
    HandoffCase("not_approver", "any", "stranger", action="delegate"),
    HandoffCase("already_voted", "all", "a", ["a"], action="delegate"),
    HandoffCase("closed", "any", "b", ["a"], action="delegate"),
    HandoffCase("not_approver", "any", "stranger", action="ask"),
    HandoffCase("already_voted", "all", "a", ["a"], action="ask"),
    HandoffCase("not_admin", "any", "a", action="reassign"),  # an approver, not an admin
]
# The channels that offer each action to a person. An API key and the CLI act as the
# tenant's operator, who may reassign; the CLI does not hand on or ask.
OFFERED = {
    "delegate": {"slack", "email", "web", "rest"},
    "ask": {"slack", "email", "web", "rest"},
    "reassign": {"slack", "web"},
}


def handoff_cases(channel: str) -> list[HandoffCase]:
    return [c for c in HANDOFF_CASES if channel in OFFERED[c.action]]


def handoff_ids(channel: str) -> list[str]:
    return [c.id for c in handoff_cases(channel)]


@dataclass(frozen=True)
class InputCase:
    code: str
    actor: str  # "a" (the assignee) or "stranger"
    submitted: bool = False  # the assignee filled the form in before


INPUT_CASES = [
    InputCase("not_assignee", "stranger"),
    InputCase("closed", "a", submitted=True),
]
INPUT_IDS = [c.code for c in INPUT_CASES]
VALUES = {"ticket": "CHG-1"}


def input_flow(people: People) -> str:
    """A one-step input form assigned to `people.a`."""
    return f"""
name: gate-input
steps:
  - id: form
    type: input
    title: Ticket
    assignee: "{people.a}"
    fields:
      - id: ticket
        type: text
        required: true
"""


async def prepare_input(
    engine: Engine, tenant: str, people: People, case: InputCase, *, running: bool = False
) -> tuple[str, str]:
    """(run id, principal who acts) for an input `case` (`running`: the engine's loops run,
    so the form is sent and an earlier submission waits for `submit_before`)."""
    await engine.apply_definition(tenant, input_flow(people))
    run = await engine.start_run(tenant, "gate-input", {}, people.requester)
    if not running:
        await engine.run_until_idle()
        await submit_before(engine, tenant, run.run_id, people, case)
    return run.run_id, getattr(people, case.actor)


async def submit_before(
    engine: Engine, tenant: str, run_id: str, people: People, case: InputCase
) -> None:
    if case.submitted:
        await engine.submit_input(tenant, run_id, "form", people.a, VALUES)


async def input_unchanged(engine: Engine, tenant: str, run_id: str, case: InputCase) -> None:
    """Assert the refused form recorded nothing: at most the assignee's earlier submission."""
    state = await engine.get_run(tenant, run_id)
    step = state.steps["form"]
    if case.submitted:
        assert step.output.get("values") == VALUES, step
    else:
        assert step.status == "waiting" and not step.output, step


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
    """Assert the refused action recorded nothing: only the earlier votes are there, nothing
    was handed on and no question asked."""
    state = await engine.get_run(tenant, run_id)
    step = state.steps["review"]
    assert len(step.votes) == len(case.before), step.votes
    assert not step.delegations and not step.questions, step
    return state
