"""Runs of one workflow are told apart in Slack: the App Home, `/workflow inbox` and
`/workflow status` show each run's summary, and step titles are rendered like messages."""

from __future__ import annotations

from tests.slack.harness import TEAM, SlackHarness

VENDOR = """
name: vendor-onboarding
summary: "{{ inputs.vendor }}, {{ inputs.amount }} EUR"
inputs:
  - {id: vendor, type: text, required: true, label: Vendor}
  - {id: amount, type: number, required: true}
steps:
  - id: legal
    title: "Legal review of {{ inputs.vendor }}"
    type: approval
    approvers: [UBOB]
"""
VENDORS = [("Globex Corp", 1200), ("Initech", 300), ("Umbrella", 99000)]


async def test_home_inbox_and_status_tell_runs_of_one_workflow_apart(slack: SlackHarness) -> None:
    await slack.engine.apply_definition(TEAM, VENDOR)
    for vendor, amount in VENDORS:
        inputs = {"vendor": vendor, "amount": amount}
        await slack.engine.start_run(TEAM, "vendor-onboarding", inputs, "UADA")
    await slack.engine.run_until_idle()
    shown = [f"{v}, {a} EUR" for v, a in VENDORS]

    card = await slack.card("UBOB")
    assert "Legal review of" in str(card) and "{{" not in str(card)

    await slack.open_home("UBOB")
    home = await slack.fake.wait_until(lambda: slack.fake.home.get("UBOB"))
    blocks = str(home["blocks"])
    assert all(blocks.count(s) == 1 for s in shown), blocks
    assert "step *Legal review of Initech*" in blocks

    async def answer(user: str, text: str) -> str:
        before = len(slack.fake.calls_to("response_url"))
        await slack.command(user, text)
        calls = await slack.fake.wait_for_call("response_url", count=before + 1)
        return str(calls[before].args)

    inbox = await answer("UBOB", "inbox")
    assert all(inbox.count(s) == 1 for s in shown), inbox
    status = await answer("UADA", "status")
    assert all(status.count(s) == 1 for s in shown), status
