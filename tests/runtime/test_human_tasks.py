"""Reminders, escalation, delegation, out of office, questions, comments and the SLA view through
the `Engine`, on every store backend (memory, SQLite, PostgreSQL), with a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from engine.actor import Actor
from engine.commands import AnswerDelivered, AskQuestion, Command, RequestApproval
from engine.decider import replay
from engine.errors import EngineError, InvalidInput, NotAllowed
from engine.ports import Outcome, Succeeded
from engine.runtime.service import Engine
from engine.testing import ManualClock, MemoryStorage
from engine.timeline import describe
from engine.working_time import WorkingHours
from storage import Storage

TENANT = "T1"
FRIDAY = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 16:00 Berlin, 07:00 Los Angeles

FLOW = """
name: spend
steps:
  - id: ok
    type: approval
    title: Approve the spend
    approvers: [ULA, UBER]
    policy: all
    remind_every: 4h
    max_reminders: 3
    timeout: 16 working hours
    on_timeout: escalate
    escalate_to:
      - {approvers: [UBOSS], timeout: 8h}
      - "#approvals"
"""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Directory:
    """Zones as Slack's users.info would give them, counting the lookups."""

    def __init__(self) -> None:
        self.zones = {"ULA": "America/Los_Angeles", "UBER": "Europe/Berlin"}
        self.asked: list[str] = []

    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        return ["UCHAN1", "UCHAN2"] if specs == ["#approvals"] else specs

    async def time_zone(self, tenant_id: str, user: str) -> str | None:
        self.asked.append(user)
        return self.zones.get(user)


class Channel:
    """Records what people would be sent."""

    def __init__(self) -> None:
        self.sent: list[Command] = []

    async def perform(self, command: Command) -> Outcome:
        self.sent.append(command)
        return Succeeded()

    def take(self) -> list[tuple[str, str]]:
        out = [(c.approver, c.kind) for c in self.sent if isinstance(c, RequestApproval)]
        self.sent.clear()
        return out


@pytest.fixture
async def world(
    store_backend: MemoryStorage | Storage,
) -> AsyncIterator[tuple[Engine, ManualClock, Directory, Channel]]:
    clock = ManualClock(FRIDAY)
    directory, channel = Directory(), Channel()
    engine = Engine.from_storage(
        store_backend,
        clock=clock,
        directory=directory,
        working_hours=WorkingHours(default_zone="Europe/Berlin"),
    )
    engine.router.register("slack", channel)
    engine.router.register("email", channel)
    await engine.apply_definition(TENANT, FLOW)
    try:
        yield engine, clock, directory, channel
    finally:
        await engine.stop()


async def at(engine: Engine, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    await engine.run_until_idle()


async def test_reminders_and_escalation_at_working_instants(
    world: tuple[Engine, ManualClock, Directory, Channel],
) -> None:
    engine, clock, directory, channel = world
    run = await engine.start_run(TENANT, "spend", {}, "UREQ")
    await engine.run_until_idle()
    assert sorted(channel.take()) == [("UBER", "request"), ("ULA", "request")]
    assert sorted(directory.asked) == ["UBER", "ULA"]
    step = (await engine.get_run(TENANT, run.run_id)).steps["ok"]
    assert step.approver_time_zones == {"ULA": "America/Los_Angeles", "UBER": "Europe/Berlin"}
    # 16 working hours in Los Angeles (the first approver's zone): Fri 09:00-18:00 local is 9h,
    # Monday 09:00 + 7h -> Mon 16:00 LA = Tue 00:00 UTC.
    assert step.escalates_at == utc(2026, 12, 1, 0, 0)

    await at(engine, clock, utc(2026, 11, 27, 18, 59))
    assert channel.take() == []
    await at(engine, clock, utc(2026, 11, 27, 19, 0))
    assert channel.take() == [("ULA", "reminder")]  # 11:00 in LA; 20:00 in Berlin: not UBER
    await at(engine, clock, utc(2026, 11, 27, 23, 0))
    assert channel.take() == [("ULA", "reminder")]
    await at(engine, clock, utc(2026, 11, 29, 12, 0))  # Sunday: nobody
    assert channel.take() == []
    await at(engine, clock, utc(2026, 11, 30, 8, 0))
    assert channel.take() == [("UBER", "reminder")]  # Monday 09:00 Berlin
    await engine.decide(TENANT, run.run_id, "ok", "UBER", "approve")
    await at(engine, clock, utc(2026, 11, 30, 12, 0))
    assert [c for c in channel.take() if c[1] == "reminder"] == []  # UBER has decided
    await at(engine, clock, utc(2026, 11, 30, 17, 0))
    assert channel.take() == [("ULA", "reminder")]  # Monday 09:00 LA, ULA's third and last

    [sla] = await engine.sla(TENANT)
    assert (sla.run_id, sla.step_title, sla.approvers) == (run.run_id, "Approve the spend", ["ULA"])
    assert sla.waiting_since == FRIDAY and sla.next_reminder_at is None
    assert sla.escalates_at == utc(2026, 12, 1, 0, 0) and sla.times_out_at is None

    await at(engine, clock, utc(2026, 12, 1, 0, 0))
    assert channel.take() == [("UBOSS", "escalated")]
    state = await engine.get_run(TENANT, run.run_id)
    step = state.steps["ok"]
    assert step.escalation_reason == "no decision within 16 working hours from ULA, UBER"
    assert step.escalates_at == utc(2026, 12, 1, 8, 0)  # the level's own 8h, wall clock
    await at(engine, clock, utc(2026, 12, 1, 8, 0))
    assert channel.take() == [("#approvals", "escalated")]
    [sla] = await engine.sla(TENANT)
    assert (sla.escalation_level, sla.approvers) == (2, ["UCHAN1", "UCHAN2"])
    assert sla.times_out_at == utc(2026, 12, 2, 15, 0)  # 16 working hours in Berlin (a channel)
    await engine.decide(TENANT, run.run_id, "ok", "UCHAN2", "approve", channel="slack")
    assert (await engine.get_run(TENANT, run.run_id)).status == "completed"
    assert await engine.sla(TENANT) == []
    assert await engine.timers.next_due() is None  # no reminder or timeout is left armed


async def test_zones_are_looked_up_once_per_person(
    world: tuple[Engine, ManualClock, Directory, Channel],
) -> None:
    engine, _, directory, _ = world
    for _ in range(3):
        await engine.start_run(TENANT, "spend", {}, "UREQ")
    assert sorted(directory.asked) == ["UBER", "ULA"]


async def test_out_of_office_window_and_delegation(
    world: tuple[Engine, ManualClock, Directory, Channel],
) -> None:
    engine, clock, _, channel = world
    until = FRIDAY + timedelta(days=3)
    with pytest.raises(InvalidInput, match="already past"):
        await engine.set_away(TENANT, "UBER", "UDEP", until=FRIDAY - timedelta(hours=1))
    with pytest.raises(InvalidInput, match="someone else"):
        await engine.set_away(TENANT, "UBER", "UBER", until=until)
    away = await engine.set_away(TENANT, "UBER", "UDEP", until=until)
    assert (await engine.away_of(TENANT, "UBER")) == away
    with pytest.raises(InvalidInput, match="away themselves"):
        await engine.set_away(TENANT, "UXX", "UBER", until=until)
    with pytest.raises(InvalidInput, match="stands in for UBER"):
        await engine.set_away(TENANT, "UDEP", "UYY", until=until)

    inside = await engine.start_run(TENANT, "spend", {}, "UREQ")
    await engine.run_until_idle()
    step = inside.steps["ok"]
    assert step.approvers == ["ULA", "UDEP"]
    assert [(d.from_, d.to, d.kind) for d in step.delegations] == [("UBER", "UDEP", "away")]
    assert sorted(channel.take()) == [("UDEP", "delegated"), ("ULA", "request")]

    with pytest.raises(NotAllowed, match="UBER is away"):
        await engine.delegate(TENANT, inside.run_id, "ok", "ULA", "UBER")
    state = await engine.delegate(
        TENANT, inside.run_id, "ok", "ULA", "email:Ann@Example.com", reason="I am out"
    )
    assert state.steps["ok"].approvers == ["email:ann@example.com", "UDEP"]
    await engine.run_until_idle()
    assert ("email:ann@example.com", "delegated") in channel.take()
    state = await engine.delegate(
        TENANT, inside.run_id, "ok", "UADMIN", "UZED", admin=True, reassign=True, from_="UDEP"
    )
    kinds = [(d.from_, d.to, d.by, d.kind) for d in state.steps["ok"].delegations]
    assert kinds[-1] == ("UDEP", "UZED", "UADMIN", "reassign")
    assert [t.run_id for t in await engine.pending_for(TENANT, "UZED")] == [inside.run_id]
    assert await engine.pending_for(TENANT, "UDEP") == []
    lines = [describe(r.event) for r in await engine.timeline(TENANT, inside.run_id)]
    assert any(line.startswith("step ok: UDEP acts for UBER: UBER is away until") for line in lines)
    assert "UADMIN reassigned step ok from UDEP to UZED via api" in lines

    await at(engine, clock, until)  # the window is over
    after = await engine.start_run(TENANT, "spend", {}, "UREQ")
    assert after.steps["ok"].approvers == ["ULA", "UBER"]
    await engine.clear_away(TENANT, "UBER")
    assert await engine.away_of(TENANT, "UBER") is None


async def test_out_of_office_is_seen_by_a_restarted_process(
    store_backend: MemoryStorage | Storage,
) -> None:
    clock = ManualClock(FRIDAY)
    first = Engine.from_storage(store_backend, clock=clock)
    await first.apply_definition(TENANT, FLOW)
    await first.set_away(
        TENANT, "UBER", "UDEP", starts=FRIDAY + timedelta(days=1), until=FRIDAY + timedelta(days=5)
    )
    second = Engine.from_storage(store_backend, clock=clock)
    run = await second.start_run(TENANT, "spend", {}, "UREQ")
    assert run.steps["ok"].approvers == ["ULA", "UBER"]  # not started yet
    clock.set(FRIDAY + timedelta(days=1))
    run = await second.start_run(TENANT, "spend", {}, "UREQ")
    assert run.steps["ok"].approvers == ["ULA", "UDEP"]


async def test_question_pauses_and_answer_resumes_with_comments_in_the_timeline(
    world: tuple[Engine, ManualClock, Directory, Channel],
) -> None:
    engine, clock, _, channel = world
    run = await engine.start_run(TENANT, "spend", {}, "UREQ")
    await engine.run_until_idle()
    channel.take()
    clock.set(FRIDAY + timedelta(hours=1))  # Fri 16:00 UTC = 08:00 LA
    with pytest.raises(NotAllowed):
        await engine.ask(TENANT, run.run_id, "ok", "UNOBODY", "?")
    state = await engine.ask(TENANT, run.run_id, "ok", "UBER", "Which budget?", channel="slack")
    assert state.steps["ok"].paused
    await engine.run_until_idle()
    [asked] = [c for c in channel.sent if isinstance(c, AskQuestion)]
    assert (asked.to, asked.by, asked.question_id) == ("UREQ", "UBER", "q1")
    [sla] = await engine.sla(TENANT)
    assert sla.paused and sla.open_question == "Which budget?" and sla.escalates_at is None
    await at(engine, clock, utc(2026, 12, 2, 12, 0))  # days later: nothing fired meanwhile
    assert channel.take() == []
    state = await engine.answer(TENANT, run.run_id, "ok", "q1", "UREQ", "Marketing")
    step = state.steps["ok"]
    assert not step.paused
    # 16 working hours in LA, none used before the question (08:00 LA): all 16 are left from
    # Wed 04:00 LA -> Wed 09:00-18:00 (9h) + Thu 09:00 + 7h = Thu 16:00 LA = Fri 00:00 UTC.
    assert step.escalates_at == utc(2026, 12, 4, 0, 0)
    await engine.run_until_idle()
    [told] = [c for c in channel.sent if isinstance(c, AnswerDelivered)]
    assert (told.to, told.text) == ("UBER", "Marketing")
    await engine.comment(TENANT, run.run_id, "ULA", "Fine by me", step_id="ok")
    await engine.cancel(TENANT, run.run_id, "UREQ")
    await engine.comment(TENANT, run.run_id, "UREQ", "Cancelled: wrong quarter", channel="web")
    recorded = await engine.timeline(TENANT, run.run_id)
    assert replay([r.event for r in recorded]) == await engine.get_run(TENANT, run.run_id)
    lines = [describe(r.event) for r in recorded]
    assert "UBER asked UREQ on step ok: Which budget? (reminders and timeout paused)" in lines
    assert "UREQ answered on step ok: Marketing" in lines
    assert "ULA commented on step ok via slack: Fine by me" in lines
    assert lines[-1] == "UREQ commented via web: Cancelled: wrong quarter"


async def test_the_sla_view_reads_all_its_runs_in_one_query(storage: Storage) -> None:
    engine = Engine.from_storage(storage, clock=ManualClock(FRIDAY))
    await engine.apply_definition(TENANT, FLOW)
    started = [await engine.start_run(TENANT, "spend", {}, "UREQ") for _ in range(30)]
    await engine.sla(TENANT)  # definitions cached, as in a running server
    sent: list[str] = []

    def keep(conn: object, cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(storage.engine.sync_engine, "before_cursor_execute", keep)
    try:
        found = await engine.sla(TENANT, limit=100)
    finally:
        event.remove(storage.engine.sync_engine, "before_cursor_execute", keep)
    assert sorted(t.run_id for t in found) == sorted(r.run_id for r in started)
    assert len([s for s in sent if "FROM runs" in s]) == 1  # not one load per run


async def test_a_channel_asks_the_engine_before_it_shows_a_form_and_nothing_is_recorded(
    world: tuple[Engine, ManualClock, Directory, Channel],
) -> None:
    engine, _, _, _ = world
    run = await engine.start_run(TENANT, "spend", {}, "UREQ")
    await engine.run_until_idle()
    rid = run.run_id

    async def code(question: Awaitable[object]) -> str:
        with pytest.raises(EngineError) as refused:
            await question
        return refused.value.code

    admin, approver = Actor("UADMIN", "slack", admin=True), Actor("ULA", "slack")
    assert (await engine.may_delegate(TENANT, rid, "ok", "ULA")).run_id == rid
    assert await code(engine.may_delegate(TENANT, rid, "ok", "UNOBODY")) == "not_approver"
    assert (await engine.may_reassign(TENANT, rid, "ok", admin)).run_id == rid
    assert await code(engine.may_reassign(TENANT, rid, "ok", approver)) == "not_admin"
    assert await code(engine.may_ask(TENANT, rid, "ok", "UNOBODY")) == "not_approver"
    await engine.ask(TENANT, rid, "ok", "UBER", "Which budget?")
    assert (await engine.may_answer(TENANT, rid, "ok", "q1", "UREQ")).run_id == rid
    assert await code(engine.may_answer(TENANT, rid, "ok", "q1", "ULA")) == "not_asked"
    await engine.answer(TENANT, rid, "ok", "q1", "UREQ", "Marketing")
    assert await code(engine.may_answer(TENANT, rid, "ok", "q1", "UREQ")) == "already_answered"
    assert await code(engine.may_cancel(TENANT, rid, "ULA")) == "not_admin"
    assert (await engine.may_cancel(TENANT, rid, admin)).run_id == rid
    engine.may_define(admin)
    with pytest.raises(NotAllowed) as refused:
        engine.may_define(approver)
    assert refused.value.code == "not_admin"
    engine.may_change_away(approver, "ULA")
    with pytest.raises(NotAllowed, match="someone else's out-of-office"):
        engine.may_change_away(approver, "UBER", ending=True)
    with pytest.raises(NotAllowed) as refused:
        await engine.set_away(
            TENANT, "UBER", "UDEP", until=FRIDAY + timedelta(days=1), actor=approver
        )
    assert refused.value.code == "not_admin" and await engine.away_of(TENANT, "UBER") is None
    state = await engine.get_run(TENANT, rid)
    assert state.status == "running" and not state.steps["ok"].delegations
    assert [q.id for q in state.steps["ok"].questions] == ["q1"]


async def test_the_sla_view_pages_from_where_the_last_page_ended_and_counts_them_all(
    world: tuple[Engine, ManualClock, Directory, Channel],
) -> None:
    engine, clock, _, _ = world
    started = []
    for _ in range(5):  # each step waits on ULA and UBER: two task rows, one task in the view
        started.append((await engine.start_run(TENANT, "spend", {}, "UREQ")).run_id)
        await engine.run_until_idle()
        clock.advance(timedelta(hours=1))
    for who in (None, "UBER"):
        pages, cursor = [], None
        while True:
            page = await engine.sla_page(TENANT, principal=who, limit=2, cursor=cursor)
            pages.append([t.run_id for t in page.tasks])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert pages == [started[0:2], started[2:4], started[4:]], who
        summary = await engine.sla_summary(
            TENANT, principal=who, cutoff=FRIDAY + timedelta(hours=2)
        )
        assert (summary.tasks, summary.waiting_long, summary.oldest) == (5, 2, FRIDAY)
    assert (await engine.sla_summary(TENANT, principal="UNOBODY", cutoff=FRIDAY)).tasks == 0
    with pytest.raises(InvalidInput) as refused:
        await engine.sla_page(TENANT, cursor="not-a-cursor")
    assert "cursor" in str(refused.value)
