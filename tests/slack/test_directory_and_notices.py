"""End to end: approvers from user groups and email addresses, reminders, notifications."""

from __future__ import annotations

from bot.blocks import ids
from engine.commands import RequestApproval
from engine.ports import Succeeded
from tests.slack.harness import TEAM, SlackHarness

TEAMWORK = """
name: teamwork
steps:
  - id: leads
    type: approval
    approvers: [S0LEADS, dan@example.com, stranger@elsewhere.org]
    policy: all
  - id: shout
    type: notify
    to: "C0NEWS"
    message: "Approved by {{ steps.leads.decided_by | join(', ') }}: <!here>"
"""


async def test_groups_and_emails_become_people_and_strangers_get_email(slack: SlackHarness) -> None:
    slack.fake.add_usergroup("S0LEADS", ["UBOB", "UCAT"])
    await slack.engine.apply_definition(TEAM, TEAMWORK)
    run = await slack.engine.start_run(TEAM, "teamwork", {}, "UADA")
    cards = {u: await slack.card(u) for u in ("UBOB", "UCAT", "UDAN")}
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["leads"].approvers == [
        "UBOB",
        "UCAT",
        "UDAN",
        "email:stranger@elsewhere.org",
    ]
    for user, card in cards.items():
        await slack.click(user, card, ids.APPROVE)
    await slack.engine.decide(
        TEAM, run.run_id, "leads", "email:stranger@elsewhere.org", "approve", channel="email"
    )
    await slack.run_reaches(run.run_id, "completed")
    news = await slack.fake.wait_for_call(
        "chat.postMessage", lambda c: c.args["channel"] == "C0NEWS"
    )
    assert "&lt;!here&gt;" in news[0].args["text"]  # a template cannot ping the channel


async def test_an_unknown_group_fails_the_step_with_a_clear_reason(slack: SlackHarness) -> None:
    await slack.engine.apply_definition(TEAM, TEAMWORK)
    run = await slack.engine.start_run(TEAM, "teamwork", {}, "UADA")
    failed = await slack.run_reaches(run.run_id, "failed")
    assert "S0LEADS does not exist" in (failed.steps["leads"].error or failed.reason)


async def test_a_reminder_is_a_reply_under_the_card(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "wiki"}, "UADA")
    card = await slack.card("UBOB", ids.REJECT)
    await slack.refs.saved(run.run_id, "owner", "UBOB")  # a reminder comes long after
    reminder = RequestApproval(
        key="reminder-1",
        tenant_id=TEAM,
        run_id=run.run_id,
        step_id="owner",
        approver="UBOB",
        kind="reminder",
    )
    outcome = await slack.engine.router.perform(reminder)
    assert isinstance(outcome, Succeeded)
    replies = [
        c for c in slack.fake.calls_to("chat.postMessage") if c.args.get("thread_ts") == card["ts"]
    ]
    assert ["Reminder" in r.args["text"] for r in replies] == [True]
    assert len(slack.fake.messages_in("DUBOB")) == 2  # the card and its reply, no second card
