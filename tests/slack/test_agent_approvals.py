"""An agent's approval request (the approvals API, through the adapters' gate) is decided by the
approver clicking Approve or Reject on the agent's card in the fake Slack (real Bolt over Socket
Mode) and sending the decision form; the waiting agent gets that answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.blocks import ids
from countersign_client import ApprovalClient, digest
from countersign_client.adapters.gate import ToolGate, tool_details
from storage.access import sql_access_stores
from tests.slack.harness import TEAM, SlackHarness
from tests.slack.test_web_and_email import real_web

ARGUMENTS = {"service": "api", "version": "1.4.2"}


@pytest.fixture
async def gate(slack: SlackHarness, tmp_path: Path) -> AsyncIterator[ToolGate]:
    """An agent's gate with its own API key, on the web adapter wired to the Slack app."""
    keys = sql_access_stores(slack.storage.engine).api_keys
    key = (await keys.create_key(TEAM, "deploy-agent", datetime.now(UTC))).secret
    async with real_web(slack, tmp_path / "mail") as web, ApprovalClient(web.url, key) as client:
        yield ToolGate(client, ["UBOB"])


async def test_the_approve_button_in_slack_lets_the_agents_tool_run(
    slack: SlackHarness, gate: ToolGate
) -> None:
    asking = asyncio.create_task(gate.ask("deploy", ARGUMENTS, "call_slack_1"))
    card = await slack.card("UBOB", ids.AGENT_APPROVE)
    assert "Run deploy" in str(card["blocks"])
    await slack.click("UBOB", card, ids.AGENT_APPROVE)
    await slack.submit("UBOB", await slack.opened_view("UBOB"), {"comment": "go"})
    found = await asking
    assert found.run and found.arguments == ARGUMENTS
    assert found.approval is not None and found.approval.decided_by == ["UBOB"]
    assert found.approval.comment == "go"
    assert found.approval.digest == digest(tool_details("deploy", ARGUMENTS))


async def test_the_reject_button_in_slack_refuses_the_call_with_who(
    slack: SlackHarness, gate: ToolGate
) -> None:
    asking = asyncio.create_task(gate.ask("deploy", ARGUMENTS, "call_slack_2"))
    await slack.click("UBOB", await slack.card("UBOB", ids.AGENT_REJECT), ids.AGENT_REJECT)
    await slack.submit("UBOB", await slack.opened_view("UBOB"), {"comment": "not on a Friday"})
    found = await asking
    assert not found.run and found.reason == "Rejected by UBOB: not on a Friday"
