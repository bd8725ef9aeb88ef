"""What a person filling in a form saw, end to end on SQLite and PostgreSQL: an input step
submitted through a Slack modal, an emailed link, the run page, the REST API and `countersign
runs submit` each records its channel, its identity proof and the hash of what its submitter
was shown, like an approval decision; a CLI decision or override carries the operator's proof;
the request mail's HTML part is recorded with its links named. The run's bundle verifies offline
and prints what each submitter saw; a submission's reference to what was shown, changed
afterwards, is detected."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import text

from bot.blocks import ids
from cli.audit_log import build_bundle, checkpoint_now
from engine import part_hash, verify_bundle
from engine.events import DecisionRecorded, InputSubmitted, RequestShown
from storage.access import sql_access_stores
from tests.audit.test_shown import World, post_mailed_link, world
from tests.audit.test_tamper import verify
from tests.slack.harness import TEAM

__all__ = ["world"]  # the fixture, shared with test_shown

FORMS = """\
name: forms
steps:
  - id: by_slack
    type: input
    assignee: UBOB
    message: "Which ticket covers the Slack change?"
    fields: [{id: ticket, type: text, required: true}]
  - id: by_email
    type: input
    assignee: zed@example.com
    message: "Which ticket covers the mailed change?"
    fields: [{id: ticket, type: text, required: true}]
  - id: by_web
    type: input
    assignee: UBOB
    message: "Which ticket covers the web change?"
    fields: [{id: ticket, type: text, required: true}]
  - id: by_rest
    type: input
    assignee: UCAT
    message: "Which ticket covers the API change?"
    fields: [{id: ticket, type: text, required: true}]
  - id: by_cli
    type: input
    assignee: UDAN
    message: "Which ticket covers the CLI change?"
    fields: [{id: ticket, type: text, required: true}]
  - id: sign_off
    type: approval
    approvers: [UDAN]
  - id: close
    type: approval
    approvers: [UCAT]
"""
OPERATOR = "ops-ann"


async def countersign(w: World, tmp_path: Path, *argv: str) -> str:
    """`countersign ARGV` in a subprocess on the world's database, run by OS user `OPERATOR`."""
    env = {"DATABASE_URL": w.url, "TENANT": TEAM, "LOGNAME": OPERATOR}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from cli.main import main; raise SystemExit(main())", *argv],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def fill_in_every_way(w: World, tmp_path: Path, api_key: str) -> str:
    """Each input step filled in through another channel, then the sign-off decided through
    the CLI, and the last step closed by an operator's override; returns the run id."""
    await w.engine.apply_definition(TEAM, FORMS)
    run = await w.engine.start_run(TEAM, "forms", {}, "UADA")
    run_id = run.run_id
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=w.web.url, cookie_jar=jar) as http:
        # Slack: Bob's card, the modal it opens, his submission.
        card = await w.users.card("UBOB", ids.OPEN_INPUT)
        await w.recorded(run_id, RequestShown)
        await w.users.click("UBOB", card, ids.OPEN_INPUT)
        await w.users.submit("UBOB", await w.users.opened_view("UBOB"), {"ticket": "CHG-1"})
        await w.recorded(run_id, InputSubmitted, 1)

        # Email: Zed's mail, the page behind its link, the form posted there.
        await w.recorded(run_id, RequestShown, 2)
        await post_mailed_link(w, http, r"(\S+/links/\S+)", {"ticket": "CHG-2"})
        await w.recorded(run_id, InputSubmitted, 2)

        # Web: Bob signs in to the run page (his Slack card for the step is out too).
        await w.users.card("UBOB", ids.OPEN_INPUT)
        access = sql_access_stores(w.storage.engine)
        now = w.engine.clock.now()
        made = await access.sessions.create_session(TEAM, "UBOB", now, now.replace(year=2100))
        cookie = {"Cookie": f"cs_session={made.token}"}
        async with http.get(f"/runs/{run_id}", headers=cookie) as r:
            page = await r.text()
            assert r.status == 200, page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        async with http.post(
            f"/runs/{run_id}/steps/by_web/input",
            data={"csrf": csrf.group(1), "ticket": "CHG-3"},
            headers=cookie,
            allow_redirects=False,
        ) as r:
            assert r.status in (302, 303), await r.text()
        await w.recorded(run_id, InputSubmitted, 3)

        # REST: Cat's card is shown in Slack; an API key fills in her form.
        await w.users.card("UCAT", ids.OPEN_INPUT)
        shown_so_far = len(await w.recorded(run_id, RequestShown))
        body_json = {"actor": "UCAT", "values": {"ticket": "CHG-4"}}
        async with http.post(
            f"/api/v1/runs/{run_id}/steps/by_rest/input",
            json=body_json,
            headers={"Authorization": f"Bearer {api_key}"},
        ) as r:
            assert r.status == 200, await r.text()
        await w.recorded(run_id, InputSubmitted, 4)

    # CLI: Dan's card is shown in Slack; the operator records his form and then his vote.
    await w.users.card("UDAN", ids.OPEN_INPUT)
    await w.recorded(run_id, RequestShown, shown_so_far + 1)
    await countersign(
        w, tmp_path, "runs", "submit", run_id, "by_cli", "-f", "ticket=CHG-5", "--as", "UDAN"
    )
    await w.users.card("UDAN", ids.APPROVE)
    await w.recorded(run_id, RequestShown, shown_so_far + 2)
    await countersign(w, tmp_path, "runs", "decide", run_id, "sign_off", "approve", "--as", "UDAN")
    await w.recorded(run_id, DecisionRecorded)
    # An operator's override of the last step: the operator's own proof.
    override = ("--override", "--reason", "Cat is away")
    await countersign(w, tmp_path, "runs", "decide", run_id, "close", "approve", *override)
    return run_id


async def test_each_submission_records_its_channel_proof_and_what_was_shown(
    world: World, tmp_path: Path
) -> None:
    w = world
    access = sql_access_stores(w.storage.engine)
    api_key = await access.api_keys.create_key(TEAM, "forms-bot", w.engine.clock.now())
    run_id = await fill_in_every_way(w, tmp_path, api_key.secret)
    timeline = [r.event for r in await w.engine.timeline(TEAM, run_id)]
    shown = {e.sha256: e for e in timeline if isinstance(e, RequestShown)}
    submitted = {e.step_id: e for e in timeline if isinstance(e, InputSubmitted)}

    def saw(step: str) -> RequestShown:
        ref = submitted[step].shown
        assert ref is not None, f"{step}: no record of what was shown"
        record = shown[ref.sha256]
        assert record.step_id == step and record.recipient == submitted[step].actor
        return record

    slack = submitted["by_slack"]
    assert (slack.channel, slack.proof) == ("slack", {"slack_user": "UBOB", "slack_team": TEAM})
    assert saw("by_slack").surface == "slack card"
    assert "Which ticket covers the Slack change?" in saw("by_slack").text

    mailed = submitted["by_email"]
    assert mailed.channel == "email"
    assert mailed.proof["link_principal"] == mailed.actor == "email:zed@example.com"
    assert set(mailed.proof) == {"link_principal", "link_nonce", "link_expires_at"}
    page = saw("by_email")
    assert (
        page.surface == "email link page"
        and page.fields["link_nonce"] == mailed.proof["link_nonce"]
    )
    assert "Which ticket covers the mailed change?" in page.text

    web = submitted["by_web"]
    assert web.channel == "web" and web.proof["session_principal"] == "UBOB"
    assert len(web.proof["web_session"]) == 16
    assert saw("by_web").surface == "web page"
    assert "Which ticket covers the web change?" in saw("by_web").text

    rest = submitted["by_rest"]
    assert rest.channel == "api"
    assert rest.proof == {"api_key_id": api_key.key.id, "api_key_name": "forms-bot"}
    assert saw("by_rest").channel == "slack"  # she read her card, then the key filled it in

    by_cli = submitted["by_cli"]
    operator = {"cli_operator": f"cli:{OPERATOR}", "os_user": OPERATOR}
    assert by_cli.channel == "cli" and by_cli.proof.items() >= operator.items()
    assert by_cli.proof["host"]
    assert saw("by_cli").channel == "slack"
    decided, overridden = [e for e in timeline if isinstance(e, DecisionRecorded)]
    assert decided.channel == "cli" and decided.proof.items() >= operator.items()
    assert (overridden.actor, overridden.override) == (f"cli:{OPERATOR}", True)
    assert overridden.proof == decided.proof

    # The request mail: its plain text and its HTML part, links named, the HTML's own hash.
    (mail,) = [e for e in shown.values() if e.surface == "email"]
    html = str(mail.fields["html"])
    assert "<form_url>" in mail.text and "&lt;form_url&gt;" not in mail.text
    assert 'href="<form_url>"' in html and "Which ticket covers the mailed change?" in html
    assert mail.fields["html_sha256"] == part_hash(html)
    everything = json.dumps([e.model_dump(mode="json") for e in timeline])
    assert "/links/" not in everything and api_key.secret not in everything

    # The bundle verifies offline and says what each submitter saw.
    await checkpoint_now(w.storage, w.key, TEAM)
    bundle = await build_bundle(w.storage, TEAM, w.key, run_ids=[run_id])
    path = tmp_path / "forms.json"
    path.write_text(json.dumps(bundle))
    code, out = verify(path)
    assert code == 0, out
    assert "what each person saw matches its record: yes" in out
    assert "UBOB filled in by_slack via slack" in out
    assert "identity proof: slack_team=T111, slack_user=UBOB" in out
    assert "| Which ticket covers the Slack change?" in out
    assert "email:zed@example.com filled in by_email via email" in out
    assert "shown: email link page to email:zed@example.com" in out
    assert "UBOB filled in by_web via web" in out and "shown: web page to UBOB" in out
    assert "UCAT filled in by_rest via api" in out and "api_key_name=forms-bot" in out
    assert "UDAN filled in by_cli via cli" in out
    assert f"identity proof: cli_operator=cli:{OPERATOR}, host=" in out
    assert "UDAN approved sign_off via cli" in out
    assert f"cli:{OPERATOR} approved close via cli" in out

    # The mail's HTML changed in the bundle: its own hash no longer holds.
    changed = json.loads(path.read_text())
    (run,) = changed["runs"]
    row = next(e for e in run["events"] if e["event"].get("surface") == "email")
    row["event"]["fields"]["html"] = row["event"]["fields"]["html"].replace("mailed", "other")
    (checked,) = verify_bundle(changed).runs
    assert any("the mail's HTML part does not match its hash" in p for p in checked.shown)


async def test_a_submissions_shown_reference_changed_in_the_database_is_detected(
    world: World, tmp_path: Path
) -> None:
    w = world
    access = sql_access_stores(w.storage.engine)
    api_key = await access.api_keys.create_key(TEAM, "bot", w.engine.clock.now())
    run_id = await fill_in_every_way(w, tmp_path, api_key.secret)
    await checkpoint_now(w.storage, w.key, TEAM)
    assert verify_bundle(await build_bundle(w.storage, TEAM, w.key)).ok
    timeline = [r.event for r in await w.engine.timeline(TEAM, run_id)]
    (slack,) = [e for e in timeline if isinstance(e, InputSubmitted) and e.step_id == "by_slack"]
    assert slack.shown is not None
    forged = "0" * 64  # as if Bob had been shown something else
    async with w.storage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE events SET data = replace(data, :real, :forged)"
                " WHERE run_id = :r AND data LIKE '%input_submitted%' AND data LIKE '%by_slack%'"
            ),
            {"r": run_id, "real": slack.shown.sha256, "forged": forged},
        )
    report = verify_bundle(await build_bundle(w.storage, TEAM, w.key))
    (broken,) = [r for r in report.runs if not r.ok]
    assert broken.run_id == run_id
    assert any("hash does not match its content" in p for p in broken.chain)
    assert any(
        "input to by_slack by UBOB: what it was shown" in p and "is not in the run" in p
        for p in broken.shown
    )
