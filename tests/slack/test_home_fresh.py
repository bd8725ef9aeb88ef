"""The App Home stays fresh for whoever opened it once, whichever process learns of the change:
after a restart, and when another process (one without Slack, like the CLI) commits it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.background import Background
from bot.blocks import ids
from bot.clients import SlackClients
from bot.home import HomeTab
from engine.events import Event
from engine.runtime.service import Engine
from engine.state import RunState
from engine.testing import ManualClock, MemoryStorage
from storage import open_storage
from tests.fakeslack import FakeSlack
from tests.slack.conftest import ACCESS
from tests.slack.harness import TEAM, SlackHarness, app_process, running_app
from tests.slack.test_deadlines import ESCALATE, MONDAY


def home_text(fake: FakeSlack, user: str) -> str:
    return str(fake.home.get(user, {}).get("blocks"))


def published_to(fake: FakeSlack) -> set[str]:
    return {str(c.args["user_id"]) for c in fake.calls_to("views.publish")}


async def open_and_wait(app: SlackHarness, user: str) -> None:
    await app.open_home(user)
    await app.fake.wait_until(lambda: user in app.fake.home)


async def test_after_a_restart_a_new_request_refreshes_the_home_of_who_opened_it(
    fake: FakeSlack, tmp_path: Path
) -> None:
    db = tmp_path / "cs.db"
    async with app_process(fake, db) as before:
        await before.engine.apply_definition(TEAM, ACCESS)
        await open_and_wait(before, "UBOB")
        assert "Nothing waits on you" in home_text(fake, "UBOB")
    async with app_process(fake, db) as after:  # a new process: nothing kept in memory
        opened_before = len(fake.calls_to("views.publish"))
        run = await after.engine.start_run(TEAM, "access", {"system": "vpn"}, "UADA")
        # Bob did not open his Home again, yet it shows the request waiting on him.
        await fake.wait_until(lambda: run.run_id in home_text(fake, "UBOB"))
        await after.card("UBOB")
        await after.service.settle()
        publishes = fake.calls_to("views.publish")[opened_before:]
        assert {c.args["user_id"] for c in publishes} == {"UBOB"}  # Ada never opened hers
    after.assert_every_envelope_acked_in_time()


async def test_a_change_committed_by_another_process_refreshes_the_home(
    fake: FakeSlack, tmp_path: Path
) -> None:
    db = tmp_path / "cs.db"
    async with app_process(fake, db) as app:
        await app.engine.apply_definition(TEAM, ACCESS)
        await open_and_wait(app, "UBOB")
        await open_and_wait(app, "UADA")
        # Another process (the CLI, a replica without Slack) starts a run on the same database;
        # its commands are left for the app to claim.
        other_storage = await open_storage(f"sqlite+aiosqlite:///{db}")
        try:
            other = Engine.from_storage(other_storage)
            run = await other.start_run(TEAM, "access", {"system": "vpn"}, "UADA")
            await fake.wait_until(lambda: run.run_id in home_text(fake, "UBOB"))
            # ...and decides it there: Bob's Home drops the request, Ada's shows the outcome.
            await other.decide(TEAM, run.run_id, "owner", "UBOB", "approve", channel="slack")
            await fake.wait_until(lambda: "Nothing waits on you" in home_text(fake, "UBOB"))
            await fake.wait_until(lambda: "completed" in home_text(fake, "UADA"))
        finally:
            await other_storage.close()
        await app.service.settle()
        assert published_to(fake) == {"UBOB", "UADA"}


async def test_nobody_who_never_opened_the_home_gets_one(slack: SlackHarness) -> None:
    run = await slack.engine.start_run(TEAM, "purchase", {"item": "Desk", "amount": 5}, "UADA")
    for user in ("UBOB", "UCAT"):
        await slack.click(user, await slack.card(user), ids.APPROVE)
    await slack.run_reaches(run.run_id, "completed")
    await slack.service.settle()
    assert published_to(slack.fake) == set()


async def test_an_escalation_takes_the_task_off_the_earlier_approvers_home(
    tmp_path: Path,
) -> None:
    clock = ManualClock(MONDAY)
    async with running_app(tmp_path, clock) as app:
        await app.engine.apply_definition(TEAM, ESCALATE)
        await open_and_wait(app, "UBOB")
        await open_and_wait(app, "UCAT")
        run = await app.engine.start_run(TEAM, "escalate", {}, "UADA")
        await app.fake.wait_until(lambda: run.run_id in home_text(app.fake, "UBOB"))
        await app.card("UBOB")
        clock.advance(timedelta(hours=2))  # Bob's timeout: the step goes to Cat
        await app.engine.run_until_idle()
        await app.fake.wait_until(lambda: run.run_id in home_text(app.fake, "UCAT"))
        # Bob is no longer an approver of the step: only his card says he was asked.
        await app.fake.wait_until(lambda: "Nothing waits on you" in home_text(app.fake, "UBOB"))


async def test_a_burst_of_changes_publishes_a_home_twice_not_once_each(fake: FakeSlack) -> None:
    engine = Engine.from_storage(MemoryStorage())  # not started: runs just wait on Bob
    await engine.apply_definition(TEAM, ACCESS)
    changes: list[tuple[RunState, list[Event]]] = []

    async def record(state: RunState, events: list[Event]) -> None:
        changes.append((state, events))

    engine.subscribe(record)
    for _ in range(50):
        await engine.start_run(TEAM, "access", {"system": "vpn"}, "UADA")
    background = Background()
    home = HomeTab(SlackClients(fake.api_url, bot_token=fake.bot_token), engine, background)
    home.opened(TEAM, "UBOB")
    await background.drain()
    for state, events in changes:  # 50 requests to Bob arrive at once
        await home.on_change(state, events)
    await background.drain()
    assert str(fake.home["UBOB"]["blocks"]).count(ids.APPROVE) == 20  # a full page
    publishes = [c for c in fake.calls_to("views.publish") if c.args["user_id"] == "UBOB"]
    # The open; the first change at once; the other 49 share one pass, a second later.
    assert len(publishes) == 3
    assert published_to(fake) == {"UBOB"}  # Ada, the requester, never opened hers
