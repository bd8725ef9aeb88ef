"""End to end through the fake Slack: an agent's approval request (a run of the built-in
approval workflow, as the approvals API starts it) shows the tool, the arguments, the digest
and the key's name; long arguments are cut safely; editable arguments are edited in the agent
modal (bad JSON answered on its field); "Approve & allow" makes a standing grant that App Home
lists and revokes; the rows of an agent's request on App Home and in the inbox open the same
agent modal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.blocks import ids
from bot.blocks.agent_card import ARG_BLOCK, GRANT_BLOCK
from bot.blocks.kit import SECTION_TEXT
from engine import RunState, approval_definition, digest_of
from engine.agent_requests import canonical
from tests.fakeslack import payloads as p
from tests.slack.harness import TEAM, SlackHarness, running_app

AGENT_KEY = "api:key-1"


async def agent_asks(
    slack: SlackHarness,
    arguments: dict[str, Any],
    *,
    editable: tuple[str, ...] = (),
    grant_hours: int | None = None,
) -> RunState:
    """Start the request the way `POST /api/v1/approvals` does (asked by the key "billing-bot")."""
    source = approval_definition(
        policy="any",
        timeout=None,
        default_decision="reject",
        fields=[],
        editable=bool(editable),
        grant_hours=grant_hours,
    )
    applied = await slack.engine.apply_definition(TEAM, source, "countersign-approval")
    details = {"tool": "refund", "arguments": arguments}
    grant = json.dumps({"allow": True, "max_hours": grant_hours}) if grant_hours else ""
    inputs = {
        "title": "Refund order 1234",
        "summary": "Damaged item",
        "details": canonical(details),
        "digest": digest_of(details),
        "approvers": "UBOB",
        "editable": ", ".join(editable),
        "agent": "billing-bot",
        "grant": grant,
    }
    return await slack.engine.start_run(
        TEAM, "countersign-approval", inputs, AGENT_KEY, version=applied.version
    )


def texts(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]


async def test_the_card_shows_tool_arguments_digest_and_key_name(slack: SlackHarness) -> None:
    arguments = {"order": 1234, "amount": 80, "note": "<b>&"}
    run = await agent_asks(slack, arguments)
    card = await slack.card("UBOB", ids.AGENT_APPROVE)
    shown = "\n".join(texts(card))
    assert "*billing-bot* asks to run `refund`: *Refund order 1234*" in shown
    assert '"amount": 80' in shown and '"order": 1234' in shown
    assert "&lt;b&gt;&amp;" in shown  # user text cannot forge mrkdwn, even in the code block
    assert digest_of({"tool": "refund", "arguments": arguments})[:12] in str(card["blocks"])
    assert ids.APPROVE not in str(card["blocks"])  # the agent modal replaces the generic one
    assert ids.ASK not in str(card["blocks"])  # nobody to ask: the requester is a program
    assert run.run_id


async def test_long_arguments_are_cut_on_a_character_and_never_inside_an_escape(
    slack: SlackHarness,
) -> None:
    # 4,000 characters, each escaped to five: far beyond a section's 3,000.
    await agent_asks(slack, {"query": "&" * 4000, "emoji": "😀" * 10})
    card = await slack.card("UBOB", ids.AGENT_APPROVE)
    [args] = [t for t in texts(card) if t.startswith("*Arguments*")]
    assert len(args) <= SECTION_TEXT
    body = args.split("```\n", 1)[1].split("\n…```", 1)[0]
    assert re.fullmatch(r'\{\n  "emoji": "(😀)*(", *\n  "query": "(&amp;)*)?', body)
    assert args.endswith("…```\n(cut: the run's web page shows them in full)")


async def test_a_cut_card_links_to_the_run_page_at_the_public_url(tmp_path: Path) -> None:
    public = "https://countersign.example.com"
    async with running_app(tmp_path, public_url=public) as slack:
        run = await agent_asks(slack, {"query": "&" * 4000})
        card = await slack.card("UBOB", ids.AGENT_APPROVE)
    page = f"{public}/runs/{run.run_id}"
    [args] = [t for t in texts(card) if t.startswith("*Arguments*")]
    assert len(args) <= SECTION_TEXT
    assert args.endswith(f"…```\n<{page}|Full arguments on the web page>")
    assert f"<{page}|Open on the web>" in str(card["blocks"])


async def test_edited_arguments_through_the_modal_carry_both_digests(slack: SlackHarness) -> None:
    arguments = {"order": 1234, "amount": 80}
    run = await agent_asks(slack, arguments, editable=("amount",))
    card = await slack.card("UBOB", ids.AGENT_APPROVE)
    await slack.click("UBOB", card, ids.AGENT_APPROVE)
    view = await slack.opened_view("UBOB")
    assert view["callback_id"] == ids.AGENT_DECIDE_VIEW
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == [ARG_BLOCK + "amount", "comment"]
    bad = await slack.submit("UBOB", view, {ARG_BLOCK + "amount": "fifty"})
    assert bad.ack_payload["response_action"] == "errors"
    assert bad.ack_payload["errors"][ARG_BLOCK + "amount"].startswith("not valid JSON")
    ok = await slack.submit("UBOB", view, {ARG_BLOCK + "amount": "50", "comment": "half"})
    assert not ok.ack_payload
    done = await slack.run_reaches(run.run_id, "completed")
    [vote] = done.steps["approval"].votes
    assert json.loads(vote.fields["arguments"]) == {"order": 1234, "amount": 50}
    assert vote.fields["comment"] == "half"
    closed = await slack.card_in(slack.fake.dm_channel("UBOB"), "Approved")
    assert "approved with edited arguments" in str(closed["blocks"])


async def test_approve_and_allow_makes_a_grant_that_app_home_revokes(
    slack: SlackHarness,
) -> None:
    arguments = {"order": 1234, "amount": 80}
    first = await agent_asks(slack, arguments, grant_hours=8)
    card = await slack.card("UBOB", ids.AGENT_GRANT)
    assert "Approve &amp; allow 8 hours" in str(card["blocks"]) or "Approve & allow 8 hours" in str(
        card["blocks"]
    )
    await slack.click("UBOB", card, ids.AGENT_GRANT)
    view = await slack.opened_view("UBOB")
    [choice] = [b for b in view["blocks"] if b.get("block_id") == GRANT_BLOCK]
    assert choice["element"]["initial_option"]["value"] == "8"
    await slack.submit("UBOB", view, {GRANT_BLOCK: "8"})
    await slack.run_reaches(first.run_id, "completed")
    assert slack.grants is not None
    await slack.grants.stored(first.run_id)  # by the dispatcher, after the approval's commit
    [grant] = await slack.engine.active_grants(TEAM)
    assert (grant.grant_id, grant.granted_by, grant.agent) == (first.run_id, "UBOB", "billing-bot")

    repeat = await agent_asks(slack, arguments)
    approved, used = await slack.engine.apply_grant(repeat)
    assert used == grant and approved.steps["approval"].outcome == "approved"

    await slack.open_home("UBOB")
    home = await slack.fake.wait_until(
        lambda: (
            ids.REVOKE_GRANT in str(slack.fake.home.get("UBOB", {}).get("blocks"))
            and slack.fake.home["UBOB"]
        )
    )
    assert "`refund` for *billing-bot* with the same arguments" in str(home["blocks"])
    await slack.fake.ack(
        await slack.fake.send("interactive", p.home_action("UBOB", home, ids.REVOKE_GRANT))
    )
    await slack.dm("UBOB", "Revoked the standing grant")
    assert await slack.engine.active_grants(TEAM) == []
    later = await agent_asks(slack, arguments)
    still, none = await slack.engine.apply_grant(later)
    assert none is None and still.steps["approval"].status == "waiting"


async def test_the_app_home_row_opens_the_agent_modal_to_edit_and_grant(
    slack: SlackHarness,
) -> None:
    """An agent's request listed on App Home has the card's buttons: Approve opens the agent
    modal (editable arguments, the grant choice), not the generic one."""
    run = await agent_asks(
        slack, {"order": 1234, "amount": 80}, editable=("amount",), grant_hours=8
    )
    await slack.card("UBOB", ids.AGENT_APPROVE)  # asked: the task is listed
    await slack.open_home("UBOB")
    block_id = f"task|{ids.StepRef(run.run_id, 'approval').value()}"

    def row() -> dict[str, Any] | None:
        home = slack.fake.home.get("UBOB") or {}
        found = [b for b in home.get("blocks", []) if b.get("block_id") == block_id]
        return {**home, "blocks": found} if found else None

    mine = await slack.fake.wait_until(row)
    buttons = [e["action_id"] for e in mine["blocks"][0]["elements"]]
    assert buttons == [ids.AGENT_APPROVE, ids.AGENT_GRANT, ids.AGENT_REJECT, ids.DELEGATE]
    await slack.fake.ack(
        await slack.fake.send("interactive", p.home_action("UBOB", mine, ids.AGENT_APPROVE))
    )
    view = await slack.opened_view("UBOB")
    assert view["callback_id"] == ids.AGENT_DECIDE_VIEW
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == [ARG_BLOCK + "amount", GRANT_BLOCK, "comment"]
    ok = await slack.submit("UBOB", view, {ARG_BLOCK + "amount": "50", GRANT_BLOCK: "8"})
    assert not ok.ack_payload
    done = await slack.run_reaches(run.run_id, "completed")
    [vote] = done.steps["approval"].votes
    assert json.loads(vote.fields["arguments"]) == {"order": 1234, "amount": 50}
    assert slack.grants is not None
    await slack.grants.stored(run.run_id)
    [grant] = await slack.engine.active_grants(TEAM)
    assert (grant.grant_id, grant.granted_by) == (run.run_id, "UBOB")


async def test_the_inbox_row_of_an_agent_request_has_the_agent_buttons(
    slack: SlackHarness,
) -> None:
    await agent_asks(slack, {"order": 1234, "amount": 80}, editable=("amount",))
    await slack.card("UBOB", ids.AGENT_APPROVE)
    await slack.command("UBOB", "inbox")
    [told] = await slack.fake.wait_for_call("response_url")
    assert ids.AGENT_APPROVE in str(told.args) and ids.APPROVE not in str(told.args)
