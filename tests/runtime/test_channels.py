"""Routing of human-facing commands to channels, the log fallback, and approver lookups."""

from __future__ import annotations

import logging

import pytest

from engine.commands import (
    Command,
    CompleteSlackStep,
    RequestApproval,
    RunChanged,
    SendNotification,
)
from engine.errors import EngineError
from engine.ports import Failed, Outcome, Succeeded, Unavailable
from engine.runtime.directory import BuiltinDirectory
from engine.runtime.router import ChannelRouter, channel_for
from engine.runtime.service import Engine
from tests.runtime.conftest import TENANT, Target, setup


class Channel:
    def __init__(self, outcome: Outcome | None = None) -> None:
        self.got: list[Command] = []
        self.outcome = outcome or Succeeded()

    async def perform(self, command: Command) -> Outcome:
        self.got.append(command)
        return self.outcome


def approval(to: str) -> RequestApproval:
    return RequestApproval(key=f"r1:s:{to}", tenant_id="T1", run_id="r1", step_id="s", approver=to)


@pytest.mark.parametrize(
    ("principal", "channel"),
    [
        ("U012AB3CD", "slack"),
        ("W012AB3CD", "slack"),
        ("C0CHANNEL", "slack"),
        ("#deploys", "slack"),
        ("email:ann@example.com", "email"),
        ("ann@example.com", "email"),
        ("api:ci-bot", None),
        ("requester", None),
    ],
)
def test_principals_pick_their_channel(principal: str, channel: str | None) -> None:
    assert channel_for(principal) == channel


async def test_commands_go_to_the_channel_of_their_recipient() -> None:
    slack, email = Channel(), Channel()
    router = ChannelRouter()
    router.register("slack", slack)
    router.register("email", email)
    await router.perform(approval("U0AAA"))
    await router.perform(approval("email:bo@example.com"))
    note = SendNotification(key="k", tenant_id="T1", run_id="r1", step_id="s", to="#ops", text="hi")
    await router.perform(note)
    assert [c.key for c in slack.got] == ["r1:s:U0AAA", "k"]
    assert [c.key for c in email.got] == ["r1:s:email:bo@example.com"]


async def test_without_the_channel_the_log_says_what_to_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = ChannelRouter()
    router.register("email", Channel())
    with caplog.at_level(logging.INFO, logger="countersign.channels.log"):
        outcome = await router.perform(approval("U0AAA"))
    assert outcome == Succeeded()
    assert caplog.messages == [
        "[T1] approval of step 's' of run r1 requested from U0AAA "
        "(decide with: countersign runs decide r1 s approve|reject --as U0AAA)"
    ]


async def test_status_changes_reach_every_channel_and_wait_for_all() -> None:
    slack, email = Channel(), Channel(Unavailable("smtp down", retry_after=30))
    router = ChannelRouter()
    router.register("slack", slack)
    router.register("email", email)
    changed = RunChanged(key="r1:changed:3", tenant_id="T1", run_id="r1", status="running")
    assert await router.perform(changed) == Unavailable("smtp down", 30)
    assert slack.got == [changed] and email.got == [changed]
    email.outcome = Failed("bounced")
    assert await router.perform(changed) == Failed("bounced")


async def test_the_builtin_directory_maps_what_needs_no_lookup() -> None:
    directory = BuiltinDirectory()
    assert await directory.resolve("T1", ["U0AAA", "Ann@Example.com", "email:bo@example.com"]) == [
        "U0AAA",
        "email:ann@example.com",
        "email:bo@example.com",
    ]
    with pytest.raises(EngineError, match="user group S0FIN needs Slack to be connected"):
        await directory.resolve("T1", ["S0FIN"])
    with pytest.raises(EngineError, match="channel #ops need Slack to be connected"):
        await directory.resolve("T1", ["#ops"])


LOOKUP = """
name: lookup
steps:
  - id: ok
    type: approval
    approvers: [ann@example.com, S0FINANCE]
"""


async def test_a_group_without_slack_fails_the_step_clearly(engine: Engine, target: Target) -> None:
    await setup(engine, target, LOOKUP)
    run = await engine.start_run(TENANT, "lookup", {}, "UREQ")
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "failed"
    assert "user group S0FINANCE needs Slack to be connected" in (run.steps["ok"].error or "")


class Directory:
    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        members = {"S0FINANCE": ["U0FIN1", "U0FIN2"]}
        return [m for s in specs for m in members.get(s, [s])]  # emails come as email:addr


async def test_a_connected_directory_resolves_groups(engine: Engine, target: Target) -> None:
    engine.use_directory(Directory())
    await setup(engine, target, LOOKUP)
    run = await engine.start_run(TENANT, "lookup", {}, "UREQ")
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert run.steps["ok"].approvers == ["email:ann@example.com", "U0FIN1", "U0FIN2"]
    assert [t.step_id for t in await engine.pending_for(TENANT, "email:ann@example.com")] == ["ok"]
    await engine.decide(TENANT, run.run_id, "ok", "U0FIN2", "approve", channel="slack")
    assert (await engine.get_run(TENANT, run.run_id)).status == "completed"


CALL = """
name: call
steps:
  - id: ping
    type: http
    url: TARGET/ping
"""


async def test_only_a_run_a_slack_step_waits_for_is_finished_in_slack_once(
    engine: Engine, target: Target
) -> None:
    slack = Channel()
    engine.router.register("slack", slack)
    await setup(engine, target, CALL)
    plain = await engine.start_run(TENANT, "call", {}, "UREQ")
    stepped = await engine.start_run(TENANT, "call", {}, "UREQ", slack_step="Fx1")
    await engine.run_until_idle()
    for run in (plain, stepped):
        assert (await engine.get_run(TENANT, run.run_id)).status == "completed"
    ends = [c for c in slack.got if isinstance(c, CompleteSlackStep)]
    assert [(c.run_id, c.status) for c in ends] == [(stepped.run_id, "completed")]


async def test_a_slack_step_waits_while_slack_is_not_connected() -> None:
    router = ChannelRouter()
    router.register("email", Channel())  # the log channel must not swallow it either
    end = CompleteSlackStep(key="r1:slack-step", tenant_id="T1", run_id="r1", status="completed")
    outcome = await router.perform(end)
    assert isinstance(outcome, Unavailable)
