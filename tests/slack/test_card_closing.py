"""End to end: however a step closes, its Slack cards are redrawn by the one card renderer —
a form filled in on the web, by email or through the API, a default decision on timeout, and a
stale channel card clicked after the step closed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.blocks import ids
from engine.testing import ManualClock
from storage.access import sql_access_stores
from tests.slack.harness import TEAM, SlackHarness, running_app
from tests.slack.test_web_and_email import real_web
from web.links import ApprovalClaims
from web.service import WebService

CSRF = re.compile(r'name="csrf" value="([^"]+)"')

TIMEOUT = """
name: lapse
title: Lapse
steps:
  - id: ok
    type: approval
    approvers: [UBOB]
    message: Renew the support contract
    timeout: 2h
    on_timeout: reject
"""

FORM_FIRST = """
name: rollout
title: Rollout
steps:
  - id: ticket
    title: Change ticket
    type: input
    assignee: UBOB
    message: Which ticket covers the rollout?
    fields:
      - {id: ticket, type: text, required: true, label: Ticket}
  - id: sign
    type: approval
    approvers: [UCAT]
"""

CHANNEL = """
name: release
title: Release
steps:
  - id: go
    type: approval
    channel: C0ROOM
    approvers: [UBOB, UCAT]
    message: Release 4.2 goes to production tonight
"""


def now_text(slack: SlackHarness, card: dict[str, Any]) -> str:
    """The card as Slack shows it now (blocks and notification text)."""
    message = slack.fake.messages[(card["channel"], card["ts"])]
    return str(message["blocks"]) + str(message["text"])


async def csrf_of(browser: aiohttp.ClientSession, path: str) -> str:
    async with browser.get(path) as r:
        assert r.status == 200, await r.text()
        found = CSRF.search(await r.text())
    assert found is not None
    return found.group(1)


async def by_web(web: WebService, run_id: str) -> None:
    """Bob signs in with a one-time link and fills in the form on the run page."""
    path = urlsplit(web.sign_in_url(TEAM, "UBOB")).path
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from an IP address
    async with aiohttp.ClientSession(base_url=web.url, cookie_jar=jar) as browser:
        async with browser.post(path, data={"csrf": await csrf_of(browser, path)}) as r:
            assert r.status == 200
        csrf = await csrf_of(browser, f"/runs/{run_id}")
        data = {"csrf": csrf, "ticket": "CHG-42"}
        async with browser.post(f"/runs/{run_id}/steps/ticket/input", data=data) as r:
            assert r.status == 200, await r.text()


async def by_email(web: WebService, run_id: str) -> None:
    """Bob uses the signed form link an email carries (as when Slack could not reach him)."""
    claims = ApprovalClaims(
        TEAM, run_id, "ticket", "UBOB", "input", "n-1", datetime.now(UTC) + timedelta(days=1)
    )
    path = urlsplit(web.signer.approval_url(claims)).path
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=web.url, cookie_jar=jar) as browser:
        data = {"csrf": await csrf_of(browser, path), "ticket": "CHG-42"}
        async with browser.post(path, data=data) as r:
            assert r.status == 200 and "recorded" in await r.text()


async def by_api(web: WebService, run_id: str, slack: SlackHarness) -> None:
    """A script fills in the form for Bob with an API key."""
    access = sql_access_stores(slack.storage.engine)
    key = (await access.api_keys.create_key(TEAM, "script", datetime.now(UTC))).secret
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(base_url=web.url, headers=headers) as http:
        body = {"actor": "UBOB", "values": {"ticket": "CHG-42"}}
        async with http.post(f"/api/v1/runs/{run_id}/steps/ticket/input", json=body) as r:
            assert r.status == 200, await r.text()


@pytest.mark.parametrize("channel", ["web", "email", "api"])
async def test_a_form_filled_in_elsewhere_closes_its_slack_card(
    slack: SlackHarness, tmp_path: Path, channel: str
) -> None:
    async with real_web(slack, tmp_path / "mail") as web:
        await slack.engine.apply_definition(TEAM, FORM_FIRST)
        run = await slack.engine.start_run(TEAM, "rollout", {}, "UADA")
        card = await slack.card("UBOB", ids.OPEN_INPUT)
        await slack.refs.saved(run.run_id, "ticket", "UBOB")
        if channel == "web":
            await by_web(web, run.run_id)
        elif channel == "email":
            await by_email(web, run.run_id)
        else:
            await by_api(web, run.run_id, slack)
        await slack.card("UCAT")  # the run went on to the next step (so it is not over)

        def closed() -> bool:
            shown = now_text(slack, card)
            return "Submitted" in shown and ids.OPEN_INPUT not in shown

        await slack.fake.wait_until(closed)
        assert "Which ticket covers the rollout?" in now_text(slack, card)
        state = await slack.engine.get_run(TEAM, run.run_id)
        assert state.steps["ticket"].output["values"]["ticket"] == "CHG-42"


@pytest.fixture
async def timed(tmp_path: Path) -> AsyncIterator[tuple[SlackHarness, ManualClock]]:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    async with running_app(tmp_path, clock) as harness:
        await harness.engine.apply_definition(TEAM, TIMEOUT)
        yield harness, clock


async def test_a_timed_out_card_shows_the_systems_decision_and_why(
    timed: tuple[SlackHarness, ManualClock],
) -> None:
    slack, clock = timed
    run = await slack.engine.start_run(TEAM, "lapse", {}, "UADA")
    card = await slack.card("UBOB")
    await slack.refs.saved(run.run_id, "ok", "UBOB")
    clock.advance(timedelta(hours=2, minutes=1))
    await slack.engine.run_until_idle()
    await slack.run_reaches(run.run_id, "rejected")
    await slack.fake.wait_until(lambda: "The system rejected" in now_text(slack, card))
    shown = now_text(slack, card)
    assert "no decision within 2h" in shown
    assert "operator" not in shown
    assert ids.APPROVE not in shown


async def test_a_stale_channel_card_is_redrawn_as_everyone_there_sees_it(
    slack: SlackHarness,
) -> None:
    await slack.engine.apply_definition(TEAM, CHANNEL)
    run = await slack.engine.start_run(TEAM, "release", {}, "UADA")
    card = await slack.card_in("C0ROOM")
    await slack.refs.saved(run.run_id, "go", "C0ROOM")
    await slack.click("UBOB", card, ids.APPROVE)
    await slack.run_reaches(run.run_id, "completed")
    await slack.fake.wait_until(lambda: ids.APPROVE not in now_text(slack, card))
    await slack.service.settle()

    def updates() -> list[Any]:
        return [c for c in slack.fake.calls_to("chat.update") if c.args.get("ts") == card["ts"]]

    before = len(updates())
    # Cat clicks the card as she last saw it: told it closed, and the card is redrawn.
    await slack.click("UCAT", card, ids.APPROVE)
    await slack.ephemeral_to("UCAT", "closed")
    await slack.fake.wait_for_call(
        "chat.update", lambda c: c.args.get("ts") == card["ts"], count=before + 1
    )
    await slack.service.settle()
    redrawn = str(updates()[-1].args["blocks"])
    assert "Release 4.2 goes to production tonight" in redrawn  # the step's message
    assert "Approved" in redrawn and ids.APPROVE not in redrawn
    assert "<@UBOB> approved" in redrawn
