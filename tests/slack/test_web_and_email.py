"""End to end: `/workflow web` sign-in links, and email when Slack cannot reach an approver."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from engine.commands import Command, RequestApproval
from engine.events import CommentAdded
from engine.ports import Failed, Outcome, Succeeded
from storage.access import sql_access_stores
from tests.fakeslack.server import WAIT
from tests.slack.harness import TEAM, SlackHarness
from web.config import WebConfig
from web.links import LinkSigner
from web.service import WebService, start_web

BY_EMAIL = """
name: byemail
steps:
  - id: check
    type: approval
    approvers: [dan@example.com]
"""


class Mailbox:
    """Stands in for the web adapter's `EmailChannel.deliver_to`."""

    def __init__(self) -> None:
        self.sent: list[tuple[Command, str]] = []
        self._got = asyncio.Event()

    async def deliver_to(self, command: Command, address: str) -> Outcome:
        self.sent.append((command, address))
        self._got.set()
        return Succeeded()

    async def first(self) -> tuple[Command, str]:
        await asyncio.wait_for(self._got.wait(), WAIT)
        return self.sent[0]


async def test_web_dms_a_one_time_sign_in_link(slack: SlackHarness) -> None:
    signer = LinkSigner("test-secret", "http://dash.example")
    now = datetime.now(UTC)
    slack.service.hooks.sign_in_url = lambda tenant, user: signer.sign_in_url(
        tenant, user, now, timedelta(minutes=15)
    )
    told = await slack.reply("UADA", "web")
    assert "direct message" in told["text"]
    dm = await slack.dm("UADA", "dash.example")
    url = re.search(r"<(http://dash\.example/[^|>]+)\|", str(dm["blocks"]))
    assert url is not None
    claims = signer.read_sign_in(url.group(1).rsplit("/", 1)[-1], now)
    assert (claims.tenant_id, claims.principal) == (TEAM, "UADA")


@asynccontextmanager
async def real_web(slack: SlackHarness, mail_dir: Path) -> AsyncIterator[WebService]:
    """The web adapter on the same engine, wired to the bot as `cli/wiring.py` does."""
    config = WebConfig(
        secret_key="slack-tests-secret-key", host="127.0.0.1", port=0, outbox_mail_dir=str(mail_dir)
    )
    access = sql_access_stores(slack.storage.engine)
    web = await start_web(slack.engine, slack.engine.router, config, access)
    slack.service.hooks.sign_in_url = web.sign_in_url
    slack.service.hooks.email = web.mail.deliver_to
    try:
        yield web
    finally:
        await web.stop()


async def test_the_link_from_web_opens_a_dashboard_session(
    slack: SlackHarness, tmp_path: Path
) -> None:
    async with real_web(slack, tmp_path / "mail") as web:
        run = await slack.engine.start_run(TEAM, "access", {"system": "wiki"}, "UADA")
        await slack.reply("UBOB", "web")
        dm = await slack.dm("UBOB", "/signin/")
        found = re.search(r"<([^|>]+)\|Open the Countersign dashboard>", str(dm["blocks"]))
        assert found is not None
        path = urlsplit(found.group(1)).path
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from an IP address
        async with aiohttp.ClientSession(base_url=web.url, cookie_jar=jar) as browser:
            async with browser.get(path) as r:
                page = await r.text()
                assert r.status == 200 and "Continue" in page
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            async with browser.post(path, data={"csrf": csrf.group(1)}) as r:
                assert r.status == 200
                home = await r.text()  # Bob's dashboard: the request waiting on him
                assert "Waiting on me" in home and f"/runs/{run.run_id}#step-owner" in home


async def test_the_real_mail_channel_takes_over_for_a_deactivated_approver(
    slack: SlackHarness, tmp_path: Path
) -> None:
    slack.fake.deactivate("UDAN")
    async with real_web(slack, tmp_path / "mail"):
        run = await slack.engine.start_run(TEAM, "purchase", {"item": "Desk", "amount": 3}, "UADA")
        await slack.recorded(run.run_id, CommentAdded)  # noted once the mail is written
    (mail,) = (tmp_path / "mail").glob("*.eml")
    text = mail.read_text()
    assert "To: dan@example.com" in text
    assert "Desk" in text


async def test_web_says_the_dashboard_is_off(slack: SlackHarness) -> None:
    told = await slack.reply("UADA", "web")
    assert "web dashboard is off" in told["text"]
    assert not slack.fake.messages_in("DUADA")


async def test_a_deactivated_approver_gets_the_request_by_email(slack: SlackHarness) -> None:
    mailbox = Mailbox()
    slack.service.hooks.email = mailbox.deliver_to
    slack.fake.deactivate("UDAN")  # conversations.open answers user_disabled
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Desk", "amount": 3}, "UADA")
    await slack.card("UBOB")  # the others are asked in Slack as usual
    command, address = await mailbox.first()
    assert isinstance(command, RequestApproval)
    assert (command.run_id, command.approver, address) == (run.run_id, "UDAN", "dan@example.com")
    assert not slack.fake.messages_in("DUDAN")
    # The run's timeline says how Dan was reached.
    notes = [c.text for c in await slack.recorded(run.run_id, CommentAdded)]
    assert notes == [
        "Slack cannot reach UDAN (user_disabled): the approval request was emailed to "
        "dan@example.com instead"
    ]
    # The command's outcome says how it went out.
    again = RequestApproval(
        key="again", tenant_id=TEAM, run_id=run.run_id, step_id="managers", approver="UDAN"
    )
    outcome = await slack.engine.router.perform(again)
    assert isinstance(outcome, Succeeded)
    assert outcome.result["delivered_by"] == "email"
    assert outcome.result["slack_error"] == "user_disabled"


async def test_an_approver_named_by_email_is_emailed_when_slack_loses_them(
    slack: SlackHarness,
) -> None:
    mailbox = Mailbox()
    slack.service.hooks.email = mailbox.deliver_to
    await slack.engine.apply_definition(TEAM, BY_EMAIL)
    slack.fake.fail("chat.postMessage", "not_in_channel", times=10)
    run = await slack.engine.start_run(TEAM, "byemail", {}, "UADA")
    command, address = await mailbox.first()
    assert isinstance(command, RequestApproval)
    assert (command.run_id, command.approver, address) == (run.run_id, "UDAN", "dan@example.com")
    state = await slack.engine.get_run(TEAM, run.run_id)
    assert state.steps["check"].status == "waiting"  # the email's links can still decide it


async def test_without_email_an_unreachable_approver_fails_clearly(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "access", {"system": "wiki"}, "UADA")
    await slack.card("UBOB")
    await slack.refs.saved(run.run_id, "", "UADA")  # the requester's message is posted too
    slack.fake.deactivate("UBOB")
    slack.fake.fail("chat.postMessage", "user_disabled")
    reminder = RequestApproval(
        key="r1", tenant_id=TEAM, run_id=run.run_id, step_id="owner", approver="UBOB",
        kind="reminder",
    )  # fmt: skip
    outcome = await slack.engine.router.perform(reminder)
    assert isinstance(outcome, Failed)
    assert "Slack cannot reach UBOB (user_disabled)" in outcome.error
    assert "email is off" in outcome.error
    # With email on, the same reminder goes by email (the card stays the only Slack message).
    mailbox = Mailbox()
    slack.service.hooks.email = mailbox.deliver_to
    slack.fake.fail("chat.update", "account_inactive")
    emailed = await slack.engine.router.perform(reminder)
    assert isinstance(emailed, Succeeded) and emailed.result["delivered_by"] == "email"
    command, address = await mailbox.first()
    assert command == reminder and address == "bob@example.com"
