"""End to end: Delegate and Ask for info from the rows of the App Home, handled by the same
listeners and modals as on the cards."""

from __future__ import annotations

from typing import Any

from bot.blocks import ids
from tests.fakeslack import payloads as p
from tests.slack.harness import TEAM, SlackHarness


def home_text(slack: SlackHarness, user: str) -> str:
    return str(slack.fake.home.get(user, {}).get("blocks"))


def row(slack: SlackHarness, user: str, run_id: str, step_id: str) -> dict[str, Any]:
    """`user`'s published Home narrowed to the buttons of one row (a snapshot), so a click
    names that row's button and no other."""
    home = slack.fake.home[user]
    block_id = f"task|{ids.StepRef(run_id, step_id).value()}"
    (actions,) = [b for b in home["blocks"] if b.get("block_id") == block_id]
    return {**home, "blocks": [actions]}


async def home_shows(slack: SlackHarness, user: str, run_id: str) -> None:
    """Open `user`'s Home and wait until it lists the run."""
    await slack.open_home(user)
    await slack.fake.wait_until(lambda: run_id in home_text(slack, user))


async def click_home(slack: SlackHarness, user: str, view: dict[str, Any], action: str) -> None:
    await slack.fake.ack(await slack.fake.send("interactive", p.home_action(user, view, action)))


async def test_delegate_from_the_home_hands_the_request_on(slack: SlackHarness) -> None:
    other = await slack.engine.start_run(TEAM, "access", {"system": "crm"}, "UADA")
    run = await slack.engine.start_run(TEAM, "access", {"system": "wiki"}, "UADA")
    bob_card = await slack.card("UBOB", ids.card_block_id(run.run_id, "owner"))
    await home_shows(slack, "UBOB", run.run_id)
    assert other.run_id in home_text(slack, "UBOB")
    mine = row(slack, "UBOB", run.run_id, "owner")
    await click_home(slack, "UBOB", mine, ids.DELEGATE)
    view = await slack.opened_view("UBOB")
    assert view["callback_id"] == ids.DELEGATE_VIEW
    await slack.submit("UBOB", view, {"to": "UCAT", "reason": "Cat owns the wiki"})
    cat = await slack.card("UCAT")
    assert run.run_id in str(cat["blocks"])
    assert "Delegated to you by <@UBOB>" in str(cat["blocks"])
    assert "Cat owns the wiki" in str(cat["blocks"])
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["owner"].approvers == ["UCAT"]
    untouched = await slack.engine.get_run(TEAM, other.run_id)
    assert untouched.steps["owner"].approvers == ["UBOB"]  # only the clicked row moved
    # Bob's Home drops the row; his card says where it went.
    await slack.fake.wait_until(lambda: run.run_id not in home_text(slack, "UBOB"))
    assert other.run_id in home_text(slack, "UBOB")
    await slack.fake.wait_until(
        lambda: (
            "You delegated this to <@UCAT>"
            in str(slack.fake.messages[(bob_card["channel"], bob_card["ts"])]["blocks"])
        )
    )
    # A click on the stale row is refused in a DM (the Home has no channel); nothing opens.
    await click_home(slack, "UBOB", mine, ids.DELEGATE)
    await slack.dm("UBOB", "not waiting on you")
    assert len(slack.fake.calls_to("views.open")) == 1


async def test_ask_from_the_home_sends_the_requester_the_question(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "payroll"}, "UADA")
    await home_shows(slack, "UBOB", run.run_id)
    await click_home(slack, "UBOB", row(slack, "UBOB", run.run_id, "owner"), ids.ASK)
    view = await slack.opened_view("UBOB")
    assert view["callback_id"] == ids.ASK_VIEW
    await slack.submit("UBOB", view, {"question": "Read or write access?"})
    question = await slack.card_in("DUADA", ids.ANSWER)
    assert "Read or write access?" in str(question["blocks"])
    assert "<@UBOB>" in str(question["blocks"])
    state = await slack.engine.get_run(TEAM, run.run_id)
    (asked,) = state.steps["owner"].questions
    assert (asked.by, asked.to, asked.text) == ("UBOB", "UADA", "Read or write access?")
    # Bob's Home row says what it waits for; the request still waits on him.
    await slack.fake.wait_until(lambda: "paused: question open" in home_text(slack, "UBOB"))
    assert ids.APPROVE in home_text(slack, "UBOB")


async def test_an_input_row_offers_delegate_but_not_ask(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "deploy", {}, "UADA")
    await home_shows(slack, "UBOB", run.run_id)
    buttons = row(slack, "UBOB", run.run_id, "ticket")["blocks"][0]["elements"]
    assert [b["action_id"] for b in buttons] == [ids.OPEN_INPUT, ids.DELEGATE]
    await click_home(slack, "UBOB", row(slack, "UBOB", run.run_id, "ticket"), ids.DELEGATE)
    await slack.submit("UBOB", await slack.opened_view("UBOB"), {"to": "UDAN"})
    dan = await slack.card("UDAN", ids.OPEN_INPUT)
    assert "Delegated to you by <@UBOB>" in str(dan["blocks"])
    await slack.fake.wait_until(lambda: run.run_id not in home_text(slack, "UBOB"))
