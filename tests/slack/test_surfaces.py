"""End to end: input steps, the App Home, and the other slash subcommands."""

from __future__ import annotations

from typing import Any

from bot.blocks import ids
from bot.blocks.app_home import TASKS_PER_PAGE
from tests.fakeslack import payloads as p
from tests.slack.harness import ADMIN, TEAM, SlackHarness


async def test_input_step_form_is_validated_then_resumes_the_run(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "deploy", {}, "UADA")
    card = await slack.card("UBOB", ids.OPEN_INPUT)
    await slack.click("UBOB", card, ids.OPEN_INPUT)
    view = await slack.opened_view("UBOB")
    assert "Which ticket covers" in str(view["blocks"])
    empty = await slack.submit("UBOB", view, {})
    assert empty.ack_payload == {"response_action": "errors", "errors": {"ticket": "required"}}
    await slack.submit("UBOB", view, {"ticket": "CHG-42", "risky": ["true"]})
    done = await slack.run_reaches(run.run_id, "completed")
    assert done.steps["ticket"].output["values"] == {"ticket": "CHG-42", "risky": True}
    told = await slack.fake.wait_for_call(
        "chat.postMessage", lambda c: "CHG-42" in c.args.get("text", "")
    )
    assert told[0].args["channel"] == "DUADA"
    await slack.card_in("DUBOB", "Submitted")


async def test_app_home_shows_and_pages_a_long_inbox(slack: SlackHarness) -> None:
    total = TASKS_PER_PAGE + 5
    for i in range(total):
        await slack.engine.start_run(TEAM, "purchase", {"item": f"i{i}", "amount": 1}, "UADA")
    await slack.open_home("UBOB")
    first = await slack.fake.wait_until(lambda: slack.fake.home.get("UBOB"))
    assert len(first["blocks"]) <= 100
    assert str(first["blocks"]).count(ids.APPROVE) == TASKS_PER_PAGE
    env = await slack.fake.send(
        "interactive", p.home_action("UBOB", first, ids.HOME_PAGE + "_newer")
    )
    await slack.fake.ack(env)

    def second_page() -> dict[str, Any] | None:
        home = slack.fake.home["UBOB"]
        return home if "Older" in str(home["blocks"]) else None

    second = await slack.fake.wait_until(second_page)
    assert str(second["blocks"]).count(ids.APPROVE) == 5
    # Approving from the Home tab works like from a card.
    env = await slack.fake.send("interactive", p.home_action("UBOB", second, ids.APPROVE))
    await slack.fake.ack(env)
    await slack.fake.wait_until(
        lambda: str(slack.fake.home["UBOB"]["blocks"]).count(ids.APPROVE) == 4
    )


async def test_list_status_inbox_and_cancel(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "crm"}, "UADA")

    async def answer(user: str, text: str) -> str:
        before = len(slack.fake.calls_to("response_url"))
        await slack.command(user, text)
        calls = await slack.fake.wait_for_call("response_url", count=before + 1)
        return str(calls[before].args)

    assert ids.OPEN_START in await answer("UADA", "list")
    assert "crm" in await answer("UADA", f"status {run.run_id}")
    assert run.run_id in await answer("UADA", "status")
    assert ids.APPROVE in await answer("UBOB", "inbox")
    assert "only the requester" in await answer("UEVE", f"cancel {run.run_id}")
    await answer("UADA", f"cancel {run.run_id}")
    await slack.run_reaches(run.run_id, "cancelled")
    await slack.card_in("DUBOB", "Cancelled")


async def test_define_is_for_admins_and_names_line_and_field(slack: SlackHarness) -> None:
    await slack.command("UADA", "define")
    told = await slack.fake.wait_for_call("response_url")
    assert "Only Countersign admins" in str(told[0].args)
    await slack.command(ADMIN, "define")
    view = await slack.opened_view(ADMIN)
    broken = "name: leave\nsteps:\n  - id: boss\n    type: approval\n    approvers: []\n"
    bad = await slack.submit(ADMIN, view, {ids.DEFINE_BLOCK: broken})
    assert bad.ack_payload is not None and bad.ack_payload["response_action"] == "errors"
    message = bad.ack_payload["errors"][ids.DEFINE_BLOCK]
    assert "line 5" in message and "approvers" in message
    fixed = broken.replace("[]", "[UBOB]")
    ok = await slack.submit(ADMIN, view, {ids.DEFINE_BLOCK: fixed})
    assert ok.ack_payload is not None and "Version 1 of *leave*" in str(ok.ack_payload)
    assert (await slack.engine.get_definition(TEAM, "leave")).version == 1
