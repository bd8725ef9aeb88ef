"""End to end: delegating, out of office, admin reassignment, asking the requester, and replies
in a card's thread recorded as comments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.blocks import ids
from engine import events as ev
from tests.fakeslack import payloads as p
from tests.slack.harness import ADMIN, TEAM, SlackHarness


def blocks_of(slack: SlackHarness, card: dict[str, Any]) -> str:
    """The card as it is now (the fake keeps every update)."""
    return str(slack.fake.messages[(card["channel"], card["ts"])]["blocks"])


async def test_delegate_hands_the_request_to_someone_else(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "wiki"}, "UADA")
    bob = await slack.card("UBOB", ids.DELEGATE)
    await slack.click("UBOB", bob, ids.DELEGATE)
    view = await slack.opened_view("UBOB")
    # Handing it to the requester is refused on the field.
    refused = await slack.submit("UBOB", view, {"to": "UADA"})
    assert refused.ack_payload is not None
    assert refused.ack_payload["response_action"] == "errors"
    assert "to" in refused.ack_payload["errors"]
    ok = await slack.submit("UBOB", view, {"to": "UCAT", "reason": "Cat owns the wiki"})
    assert not ok.ack_payload
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert "UCAT" in state.steps["owner"].approvers
    assert "UBOB" not in state.steps["owner"].approvers
    cat = await slack.card("UCAT")
    assert "Delegated to you by <@UBOB>" in str(cat["blocks"])
    assert "Cat owns the wiki" in str(cat["blocks"])
    await slack.fake.wait_until(lambda: "You delegated this to <@UCAT>" in blocks_of(slack, bob))
    assert ids.APPROVE not in blocks_of(slack, bob)
    await slack.click("UCAT", cat, ids.APPROVE)  # the step has fields: a form first
    await slack.submit("UCAT", await slack.opened_view("UCAT", after=1), {})
    done = await slack.run_reaches(run.run_id, "completed")
    assert [v.actor for v in done.steps["owner"].votes] == ["UCAT"]


async def test_away_sends_new_requests_to_the_delegate(slack: SlackHarness) -> None:
    told = await slack.reply("UBOB", "away <@UCAT|cat> until 2099-12-31")
    assert "go to <@UCAT>" in told["text"]
    away = await slack.engine.away_of(TEAM, "UBOB")
    assert away is not None and away.delegate == "UCAT"
    shown = await slack.reply("UBOB", "away")
    assert "<@UCAT>" in shown["text"]
    run = await slack.engine.start_run(TEAM, "access", {"system": "vpn"}, "UADA")
    cat = await slack.card("UCAT")
    assert "You act for <@UBOB>, who is away" in str(cat["blocks"])
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["owner"].approvers == ["UCAT"]
    back = await slack.reply("UBOB", "away off")
    assert "Welcome back" in back["text"]
    assert await slack.engine.away_of(TEAM, "UBOB") is None


async def test_away_explains_what_is_wrong(slack: SlackHarness) -> None:
    bad_date = await slack.reply("UBOB", "away <@UCAT|cat> until 2026-13-45")
    assert "'2026-13-45' is not a date" in bad_date["text"]
    plain = await slack.reply("UBOB", "away @cat until 2099-12-31")
    assert "cannot tell who @cat is" in plain["text"]
    no_end = await slack.reply("UBOB", "away <@UCAT|cat>")
    assert "Until when?" in no_end["text"]
    past = await slack.reply("UBOB", "away <@UCAT|cat> until 2020-01-01")
    assert "past" in past["text"]
    assert await slack.engine.away_of(TEAM, "UBOB") is None


async def test_an_admin_sets_shows_and_ends_someone_elses_away(slack: SlackHarness) -> None:
    # Bob's days, not the admin's (Europe/Paris), bound his out-of-office.
    slack.fake.add_user("UBOB", "Bob Bates", tz="America/New_York")
    told = await slack.reply(ADMIN, "away <@UBOB|bob> <@UCAT|cat> until 2099-12-31")
    assert "<@UBOB> is away" in told["text"] and "go to <@UCAT>" in told["text"]
    assert "<@UBOB> was told" in told["text"]
    away = await slack.engine.away_of(TEAM, "UBOB")
    assert away is not None
    assert (away.user, away.delegate, away.created_by) == ("UBOB", "UCAT", ADMIN)
    assert away.until == datetime(2100, 1, 1, tzinfo=ZoneInfo("America/New_York"))
    assert await slack.engine.away_of(TEAM, ADMIN) is None  # the admin is not away
    await slack.dm("UBOB", "<@UADMIN> marked you away")
    # It works like Bob's own: his new requests go to Cat, for him.
    await slack.engine.start_run(TEAM, "access", {"system": "vpn"}, "UADA")
    cat = await slack.card("UCAT")
    assert "You act for <@UBOB>, who is away" in str(cat["blocks"])
    shown = await slack.reply(ADMIN, "away <@UBOB|bob>")
    assert "<@UBOB> is away" in shown["text"] and "go to <@UCAT>" in shown["text"]
    own = await slack.reply("UBOB", "away")
    assert "You are away" in own["text"] and "set by <@UADMIN>" in own["text"]
    ended = await slack.reply(ADMIN, "away <@UBOB|bob> off")
    assert "<@UBOB>'s out-of-office is ended" in ended["text"]
    assert await slack.engine.away_of(TEAM, "UBOB") is None
    await slack.dm("UBOB", "<@UADMIN> ended your out-of-office")
    again = await slack.reply(ADMIN, "away <@UBOB|bob> off")
    assert "<@UBOB> is not marked away; nothing changed" in again["text"]
    none = await slack.reply(ADMIN, "away <@UBOB|bob>")
    assert "<@UBOB> is not marked away" in none["text"]
    assert "away @person @stand-in until" in none["text"]


async def test_only_admins_change_someone_elses_away(slack: SlackHarness) -> None:
    refused = await slack.reply("UCAT", "away <@UBOB|bob> <@UDAN|dan> until 2099-12-31")
    assert "Only Countersign admins can set someone else's out-of-office" in refused["text"]
    assert await slack.engine.away_of(TEAM, "UBOB") is None
    assert await slack.engine.away_of(TEAM, "UCAT") is None
    await slack.reply(ADMIN, "away <@UBOB|bob> <@UDAN|dan> until 2099-12-31")
    not_yours = await slack.reply("UCAT", "away <@UBOB|bob> off")
    assert "Only Countersign admins can end someone else's out-of-office" in not_yours["text"]
    assert await slack.engine.away_of(TEAM, "UBOB") is not None
    peek = await slack.reply("UCAT", "away <@UBOB|bob>")
    assert "Until when?" in peek["text"] and "for Countersign admins" in peek["text"]
    assert "<@UDAN>" not in peek["text"]
    # Naming oneself first is one's own out-of-office, admin or not.
    mine = await slack.reply("UCAT", "away <@UCAT|cat> <@UEVE|eve> until 2099-12-31")
    assert "You are away" in mine["text"]
    cat = await slack.engine.away_of(TEAM, "UCAT")
    assert cat is not None and (cat.delegate, cat.created_by) == ("UEVE", "UCAT")
    # The admin form checks what the own form checks, naming the admin form.
    no_end = await slack.reply(ADMIN, "away <@UDAN|dan> <@UEVE|eve>")
    assert "Until when?" in no_end["text"] and "@stand-in" in no_end["text"]
    himself = await slack.reply(ADMIN, "away <@UDAN|dan> <@UDAN|dan> until 2099-12-31")
    assert "someone else than the person who is away" in himself["text"]
    assert await slack.engine.away_of(TEAM, "UDAN") is None


async def test_the_help_tells_admins_how_to_set_someone_elses_away(slack: SlackHarness) -> None:
    helped = await slack.reply("UADA", "help")
    assert "away @person @stand-in until" in helped["text"]
    assert "away @person off" in helped["text"]


async def test_an_admin_reassigns_a_pending_request(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "db"}, "UADA")
    await slack.card("UBOB")
    refused = await slack.reply("UCAT", f"reassign {run.run_id} owner <@UBOB|bob> <@UCAT|cat>")
    assert "Only Countersign admins" in refused["text"]
    done = await slack.reply(ADMIN, f"reassign {run.run_id} owner <@UBOB|bob> <@UDAN|dan>")
    assert "now waits on <@UDAN>" in done["text"]
    dan = await slack.card("UDAN")
    assert "Reassigned to you from <@UBOB>" in str(dan["blocks"])
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["owner"].approvers == ["UDAN"]


async def test_ask_the_requester_and_see_the_answer_on_the_card(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "payroll"}, "UADA")
    bob = await slack.card("UBOB", ids.ASK)
    await slack.click("UBOB", bob, ids.ASK)
    view = await slack.opened_view("UBOB")
    empty = await slack.submit("UBOB", view, {})
    assert empty.ack_payload == {
        "response_action": "errors",
        "errors": {"question": "a question is required"},
    }
    await slack.submit("UBOB", view, {"question": "Read or write access?"})
    question = await slack.card_in("DUADA", ids.ANSWER)
    assert "Read or write access?" in str(question["blocks"])
    await slack.fake.wait_until(lambda: "Waiting for <@UADA>" in blocks_of(slack, bob))
    await slack.click("UADA", question, ids.ANSWER)
    answer_view = await slack.opened_view("UADA", after=1)
    await slack.submit("UADA", answer_view, {"answer": "Read only"})
    await slack.fake.wait_until(lambda: "answered" in blocks_of(slack, bob))
    assert "Read only" in blocks_of(slack, bob)
    await slack.fake.wait_until(lambda: ids.ANSWER not in blocks_of(slack, question))
    state = await slack.engine.get_run(TEAM, run.run_id)
    (asked,) = state.steps["owner"].questions
    assert (asked.by, asked.to, asked.answer) == ("UBOB", "UADA", "Read only")
    told = await slack.fake.wait_for_call(
        "chat.postMessage", lambda c: c.args.get("thread_ts") == bob["ts"]
    )
    assert "Read only" in told[0].args["text"]


async def test_replies_in_a_card_thread_become_comments(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "crm"}, "UADA")
    bob = await slack.card("UBOB")
    for payload in (
        p.thread_reply("UBOB", bob, "Checking with security first"),
        p.thread_reply("UBOB", bob, "edited", subtype="message_changed"),
        p.thread_reply("UBOT", bob, "Reminder: this still waits on you.", bot_id="B111"),
    ):
        await slack.fake.ack(await slack.fake.send("events_api", payload))

    async def comments() -> list[ev.CommentAdded]:
        timeline = await slack.engine.timeline(TEAM, run.run_id)
        return [r.event for r in timeline if isinstance(r.event, ev.CommentAdded)]

    await slack.service.settle()  # the listeners work in the background: let them finish
    found = await comments()
    assert [(c.actor, c.text, c.step_id, c.channel) for c in found] == [
        ("UBOB", "Checking with security first", "owner", "slack")
    ]
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["owner"].status == "waiting"  # a comment is not a decision


async def test_an_admin_reassigns_from_the_run_status(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Chair", "amount": 9}, "UADA")
    await slack.card("UBOB")
    mine = await slack.reply("UCAT", f"status {run.run_id}")
    assert ids.REASSIGN not in str(mine["blocks"])  # only admins get the button
    status = await slack.reply(ADMIN, f"status {run.run_id}")
    shown = {**status, "ts": "1700000000.000100", "channel": "C111"}  # the ephemeral reply
    await slack.click(ADMIN, shown, f"{ids.REASSIGN}_managers")
    view = await slack.opened_view(ADMIN)
    taken = await slack.submit(ADMIN, view, {"from": "UEVE", "to": "UADA"})
    assert taken.ack_payload is not None
    assert "UEVE is not asked" in taken.ack_payload["errors"]["from"]
    await slack.submit(ADMIN, view, {"from": "UBOB", "to": "UEVE", "reason": "Bob is on leave"})
    eve = await slack.card("UEVE")
    assert "Reassigned to you from <@UBOB> by <@UADMIN>" in str(eve["blocks"])
    assert "Bob is on leave" in str(eve["blocks"])
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert sorted(state.steps["managers"].approvers) == ["UCAT", "UDAN", "UEVE"]


async def test_an_input_form_can_be_delegated_too(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "deploy", {}, "UADA")
    bob = await slack.card("UBOB", ids.DELEGATE)
    await slack.click("UBOB", bob, ids.DELEGATE)
    await slack.submit("UBOB", await slack.opened_view("UBOB"), {"to": "UDAN"})
    dan = await slack.card("UDAN", ids.OPEN_INPUT)
    assert "Delegated to you by <@UBOB>" in str(dan["blocks"])
    await slack.fake.wait_until(lambda: ids.OPEN_INPUT not in blocks_of(slack, bob))
    await slack.click("UDAN", dan, ids.OPEN_INPUT)
    await slack.submit("UDAN", await slack.opened_view("UDAN", after=1), {"ticket": "CHG-7"})
    done = await slack.run_reaches(run.run_id, "completed")
    assert done.steps["ticket"].output["values"]["ticket"] == "CHG-7"


async def test_handing_on_what_is_not_yours_changes_nothing(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "deploy", {}, "UADA")
    bob = await slack.card("UBOB", ids.DELEGATE)
    await slack.click("UEVE", bob, ids.DELEGATE)  # someone else clicks Bob's card
    await slack.ephemeral_to("UEVE", "not waiting on you")
    await slack.click("UEVE", bob, ids.ASK)
    await slack.ephemeral_to("UEVE", "not waiting on you")
    assert not slack.fake.calls_to("views.open")
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["ticket"].approvers == ["UBOB"] and not state.steps["ticket"].questions
