"""What each person saw, end to end on SQLite and PostgreSQL: the Slack card (through the fake
Slack), the request mail and its link page, recorded as `request_shown` events when shown; a
decision through Slack, an emailed link and the REST API each records its channel, its identity
proof and the hash of what its maker was shown. The run's bundle, downloaded over REST (or from
the run page), verifies offline and prints what each approver saw; a shown text changed behind
Countersign's back is detected; another workspace's key gets 404."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from bot.blocks import ids
from bot.config import SlackConfig
from bot.message_refs import MessageRef
from bot.service import start_slack
from cli.audit_log import build_bundle, checkpoint_now, run_bundles
from engine import report_rows, verify_bundle
from engine.events import DecisionRecorded, Event, RequestShown
from engine.runtime.service import Engine, RuntimeSettings
from engine.state import RunState
from storage import Storage
from storage.access import sql_access_stores
from storage.slack_messages import SqlMessageRefs
from tests.audit.test_tamper import verify
from tests.fakeslack.server import WAIT
from tests.slack.harness import ADMIN, TEAM, ObservedRefs, SlackUsers, fake_slack
from web.config import WebConfig
from web.service import WebService, start_web

WAY_LATER = timedelta(days=1)
FLOW = """\
name: change
inputs:
  - {id: system, type: text, required: true}
steps:
  - id: lead
    type: approval
    approvers: [UBOB]
    message: "Please check the change to {{ inputs.system }}"
  - id: owner
    type: approval
    approvers: [zed@example.com]
  - id: security
    type: approval
    approvers: [UCAT]
"""


@dataclass
class World:
    users: SlackUsers
    engine: Engine
    storage: Storage
    web: WebService
    key: Ed25519PrivateKey
    mail_dir: Path
    url: str

    async def recorded(self, run_id: str, kind: type[Event], count: int = 1) -> list[Any]:
        """Wait (on the engine's change notifications) for `count` events of `kind`."""
        changed = asyncio.Event()

        async def listener(state: RunState, _events: list[Event]) -> None:
            if state.run_id == run_id:
                changed.set()

        self.engine.subscribe(listener)
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    timeline = await self.engine.timeline(TEAM, run_id)
                    found = [r.event for r in timeline if isinstance(r.event, kind)]
                    if len(found) >= count:
                        return found
                    await changed.wait()
                    changed.clear()
        finally:
            self.engine.unsubscribe(listener)


@pytest.fixture
async def world(storage: Storage, database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    fake = fake_slack()
    await fake.start()
    engine = Engine.from_storage(storage, settings=RuntimeSettings(poll_every=0.2))
    await engine.start()
    config = SlackConfig(
        bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, admins=[ADMIN]
    )
    refs = ObservedRefs(SqlMessageRefs(storage.engine, MessageRef))
    slack = await start_slack(engine, engine.router, config, refs)
    key = Ed25519PrivateKey.generate()
    web_config = WebConfig(
        secret_key="audit-tests-secret-key",
        host="127.0.0.1",
        port=0,
        outbox_mail_dir=str(tmp_path / "mail"),
    )
    access = sql_access_stores(storage.engine)
    web = await start_web(
        engine, engine.router, web_config, access, audit_bundle=run_bundles(storage, lambda: key)
    )
    await engine.apply_definition(TEAM, FLOW)
    try:
        yield World(SlackUsers(fake), engine, storage, web, key, tmp_path / "mail", database_url)
    finally:
        await web.stop()
        await slack.stop()
        await engine.stop()
        await fake.stop()


def shown_of(events: list[RequestShown], step: str) -> list[RequestShown]:
    return [e for e in events if e.step_id == step]


async def post_mailed_link(
    w: World, http: aiohttp.ClientSession, link_pattern: str, form: dict[str, str]
) -> None:
    """Open the link in the one mail sent (its plain text matched by `link_pattern`) and post
    `form` on the page behind it, as the recipient would."""
    (mail,) = w.mail_dir.glob("*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    link = re.search(link_pattern, body.get_content())
    assert link is not None
    path = urlsplit(link.group(1)).path
    async with http.get(path) as r:
        page = await r.text()
        assert r.status == 200, page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    async with http.post(path, data={"csrf": csrf.group(1), **form}) as r:
        assert r.status == 200, await r.text()


async def _decide_all(w: World, http: aiohttp.ClientSession, api_key: str) -> str:
    """Run the change through all three approvers; returns the run id."""
    run = await w.engine.start_run(TEAM, "change", {"system": "billing"}, "UADA")
    # Slack: Bob's card, his click.
    card = await w.users.card("UBOB")
    await w.recorded(run.run_id, RequestShown)
    await w.users.click("UBOB", card, ids.APPROVE)
    await w.recorded(run.run_id, DecisionRecorded, 1)
    # Email: Dan's mail, the page behind its link, his decision there.
    await w.recorded(run.run_id, RequestShown, 2)
    await post_mailed_link(w, http, r"Form:\s+(\S+)", {"decision": "approve"})
    await w.recorded(run.run_id, DecisionRecorded, 2)
    # REST: Cat's card is shown in Slack; an API key records her decision.
    await w.users.card("UCAT")
    await w.recorded(run.run_id, RequestShown, 4)
    decision = {"step_id": "security", "actor": "UCAT", "decision": "approve"}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with http.post(
        f"/api/v1/runs/{run.run_id}/decisions", json=decision, headers=headers
    ) as r:
        assert r.status == 200, await r.text()
    await w.recorded(run.run_id, DecisionRecorded, 3)
    return run.run_id


async def test_each_decision_records_its_channel_proof_and_what_was_shown(
    world: World, tmp_path: Path
) -> None:
    w = world
    access = sql_access_stores(w.storage.engine)
    now = w.engine.clock.now()
    api_key = await access.api_keys.create_key(TEAM, "change-bot", now)
    other = await access.api_keys.create_key("T999", "other-workspace", now)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=w.web.url, cookie_jar=jar) as http:
        run_id = await _decide_all(w, http, api_key.secret)
        timeline = [r.event for r in await w.engine.timeline(TEAM, run_id)]
        shown = [e for e in timeline if isinstance(e, RequestShown)]
        decided = {e.step_id: e for e in timeline if isinstance(e, DecisionRecorded)}

        # Slack: the card's text, and Bob's click with Slack's ids.
        (card,) = shown_of(shown, "lead")
        assert (card.channel, card.recipient, card.surface) == ("slack", "UBOB", "slack card")
        assert "Please check the change to billing" in card.text
        lead = decided["lead"]
        assert lead.channel == "slack"
        assert lead.proof == {"slack_user": "UBOB", "slack_team": TEAM}
        assert lead.shown is not None and lead.shown.sha256 == card.sha256
        # Email: the mail (its links left out) and the link page; Dan decided on the page.
        mail, page = shown_of(shown, "owner")
        assert (mail.surface, page.surface) == ("email", "email link page")
        assert "/links/" not in mail.text and "<approve_url>" in mail.text
        assert mail.fields["to"] == "zed@example.com"
        owner = decided["owner"]
        assert owner.channel == "email"
        assert owner.proof["link_principal"] == owner.actor == page.recipient
        assert owner.proof["link_nonce"] == page.fields["link_nonce"]
        assert owner.shown is not None and owner.shown.sha256 == page.sha256
        # REST: the API key's id and name; Cat was shown her Slack card.
        (cat_card,) = shown_of(shown, "security")
        security = decided["security"]
        assert security.channel == "api"
        assert security.proof == {"api_key_id": api_key.key.id, "api_key_name": "change-bot"}
        assert security.shown is not None and security.shown.sha256 == cat_card.sha256
        assert security.shown.channel == "slack"
        # No token or cookie is recorded anywhere.
        everything = json.dumps([e.model_dump(mode="json") for e in timeline])
        assert api_key.secret not in everything and "/links/" not in everything

        await checkpoint_now(w.storage, w.key, TEAM)
        headers = {"Authorization": f"Bearer {api_key.secret}"}
        async with http.get(f"/api/v1/runs/{run_id}/audit-bundle", headers=headers) as r:
            assert r.status == 200
            assert "attachment" in r.headers["Content-Disposition"]
            downloaded = await r.read()
        foreign = {"Authorization": f"Bearer {other.secret}"}
        async with http.get(f"/api/v1/runs/{run_id}/audit-bundle", headers=foreign) as r:
            assert r.status == 404
            assert run_id in (await r.json())["error"]["message"]
        async with http.get(f"/api/v1/runs/{run_id}/audit-bundle") as r:
            assert r.status == 401

    path = tmp_path / "run.json"
    path.write_bytes(downloaded)
    code, out = verify(path)
    assert code == 0, out
    assert "what each person saw matches its record: yes" in out
    assert "UBOB approved lead via slack" in out
    assert "identity proof: slack_team=T111, slack_user=UBOB" in out
    assert "| Please check the change to billing" in out
    assert "shown: email link page to email:zed@example.com" in out
    assert "identity proof: api_key_id=" in out and "api_key_name=change-bot" in out

    # The auditor's report names, per decision, the hash of what its maker was shown.
    rows = report_rows(json.loads(downloaded), datetime.min.replace(tzinfo=UTC), now + WAY_LATER)
    hashes = {row.step_id: row.cells()["shown_hashes"] for row in rows}
    assert hashes == {
        "lead": f"UBOB: {card.sha256}",
        "owner": f"email:zed@example.com: {page.sha256}",
        "security": f"UCAT: {cat_card.sha256}",
    }

    # The shown text changed in the bundle (and the bundle signed again by a forger who
    # holds the key: the chain still names it).
    bundle = json.loads(downloaded)
    (run,) = bundle["runs"]
    record = next(e for e in run["events"] if e["event"]["type"] == "request_shown")
    record["event"]["text"] = record["event"]["text"].replace("billing", "payroll")
    report = verify_bundle(bundle)
    assert not report.ok
    (checked,) = report.runs
    assert any("what was shown does not match its hash" in p for p in checked.shown)
    assert any("hash does not match its content" in p for p in checked.chain)


async def test_a_shown_text_changed_in_the_database_is_detected(world: World) -> None:
    w = world
    access = sql_access_stores(w.storage.engine)
    api_key = await access.api_keys.create_key(TEAM, "bot", w.engine.clock.now())
    async with aiohttp.ClientSession(
        base_url=w.web.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        run_id = await _decide_all(w, http, api_key.secret)
    await checkpoint_now(w.storage, w.key, TEAM)
    assert verify_bundle(await build_bundle(w.storage, TEAM, w.key)).ok
    async with w.storage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE events SET data = replace(data, 'change to billing', 'change to payroll')"
                " WHERE run_id = :r AND data LIKE '%request_shown%'"
            ),
            {"r": run_id},
        )
    report = verify_bundle(await build_bundle(w.storage, TEAM, w.key))
    (broken,) = [r for r in report.runs if not r.ok]
    assert broken.run_id == run_id
    assert any("hash does not match its content" in p for p in broken.chain)
    assert any("what was shown does not match its hash" in p for p in broken.shown)


async def test_the_run_page_offers_the_bundle_for_download(world: World) -> None:
    w = world
    run = await w.engine.start_run(TEAM, "change", {"system": "billing"}, "UADA")
    access = sql_access_stores(w.storage.engine)
    now = w.engine.clock.now()
    made = await access.sessions.create_session(TEAM, "UBOB", now, now + timedelta(hours=1))
    other = await access.sessions.create_session("T999", "UBOB", now, now + timedelta(hours=1))
    async with aiohttp.ClientSession(base_url=w.web.url) as http:
        cookie = {"Cookie": f"cs_session={made.token}"}
        async with http.get(f"/runs/{run.run_id}", headers=cookie) as r:
            page = await r.text()
            assert r.status == 200
        assert f'href="/runs/{run.run_id}/audit-bundle"' in page
        async with http.get(f"/runs/{run.run_id}/audit-bundle", headers=cookie) as r:
            assert r.status == 200
            bundle = json.loads(await r.read())
        assert [r["run_id"] for r in bundle["runs"]] == [run.run_id]
        assert verify_bundle(bundle).ok
        foreign = {"Cookie": f"cs_session={other.token}"}
        async with http.get(f"/runs/{run.run_id}/audit-bundle", headers=foreign) as r:
            assert r.status == 404
    # Bob's view of the page, with his decision form, is what the web channel recorded.
    (page_shown,) = [
        e
        for e in await w.recorded(run.run_id, RequestShown, 2)
        if isinstance(e, RequestShown) and e.channel == "web"
    ]
    assert (page_shown.recipient, page_shown.surface) == ("UBOB", "web page")
    assert "Please check the change to billing" in page_shown.text
    assert "Your decision on" in page_shown.text
    # His decision there carries the session's id (not its cookie) and refers to that page.
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    async with (
        aiohttp.ClientSession(base_url=w.web.url) as http,
        http.post(
            f"/runs/{run.run_id}/steps/lead/decide",
            data={"csrf": csrf.group(1), "decision": "approve"},
            headers=cookie,
            allow_redirects=False,
        ) as r,
    ):
        assert r.status in (302, 303), await r.text()
    (decided,) = await w.recorded(run.run_id, DecisionRecorded)
    assert decided.channel == "web"
    assert decided.proof["session_principal"] == "UBOB"
    assert len(decided.proof["web_session"]) == 16
    assert made.token not in json.dumps(decided.model_dump(mode="json"))
    assert decided.shown is not None and decided.shown.sha256 == page_shown.sha256


ROOM = """\
name: room
steps:
  - id: lead
    type: approval
    channel: C0ROOM
    approvers: [UBOB]
"""


async def test_a_card_in_a_channel_is_recorded_once_for_everyone_there(world: World) -> None:
    w = world
    await w.engine.apply_definition(TEAM, ROOM)
    run = await w.engine.start_run(TEAM, "room", {}, "UADA")
    card = await w.users.card_in("C0ROOM")
    (shown,) = await w.recorded(run.run_id, RequestShown)
    assert (shown.recipient, shown.shared) == ("C0ROOM", True)
    await w.users.click("UBOB", card, ids.APPROVE)
    (decided,) = await w.recorded(run.run_id, DecisionRecorded)
    assert decided.shown is not None
    assert (decided.shown.sha256, decided.shown.shared) == (shown.sha256, True)
