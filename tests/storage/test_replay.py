"""Replaying a run's stored events rebuilds exactly what the store keeps (state, steps, pending
tasks), for random runs driven through the real decider and committed change by change."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine import triggers as tr
from engine.commands import Command, Timer
from engine.decider import decide, fold, replay
from engine.definitions.loader import load_definition
from engine.errors import EngineError
from engine.events import FINAL_STATUSES
from engine.pending import pending_rows
from engine.ports import RunChange
from engine.state import RunState
from storage import Storage
from storage.schema import steps
from tests.storage.builders import T0

WORKFLOW = load_definition(
    """
name: replay
inputs:
  - {id: amount, type: number, required: true}
steps:
  - id: manager
    type: approval
    approvers: [UAAA, UBBB, UCCC]
    policy: majority
    remind_every: 20m
    max_reminders: 2
    timeout: 1h
    on_timeout: escalate
    escalate_to: [[UDDD]]
    compensate: {url: "https://erp.example/undo/manager"}
  - id: big
    type: approval
    when: inputs.amount > 100
    approvers: [UEEE]
  - id: details
    type: input
    assignee: UREQ
    fields: [{id: ticket, type: text, required: true}]
  - id: book
    type: http
    url: https://erp.example/book
    retry: {max_attempts: 3, initial_delay: 5s}
    compensate: {url: "https://erp.example/undo/{{ steps.book.response.id }}"}
  - id: pause
    type: wait
    duration: 10m
  - id: callback
    type: signal
    timeout: 1h
  - id: tell
    type: notify
    message: "Booked {{ inputs.amount }}"
""",
    "replay.yaml",
)
_runs = itertools.count()


class Driver:
    """One run and what the world owes it: commands not yet answered, timers armed."""

    def __init__(self, tenant_id: str, run_id: str) -> None:
        self.tenant_id = tenant_id
        self.run_id = run_id
        self.state: RunState | None = None
        self.commands: dict[str, Command] = {}
        self.timers: dict[str, Timer] = {}
        self.now = T0

    def options(self) -> list[tuple[tr.Trigger, str | None, str | None]]:
        """Triggers that could come next, with the outbox key / timer id each consumes; weighted
        towards progress (approvals, successes) so that runs reach their later steps."""
        assert self.state is not None
        out: list[tuple[tr.Trigger, str | None, str | None]] = []
        for step in self.state.steps.values():
            if step.status != "waiting":
                continue
            for actor in [*step.approvers, "UOUTSIDER"]:
                approve = tr.Decide(step_id=step.id, actor=actor, decision="approve", channel="web")
                values = {"ticket": "C-1"}
                submit = tr.SubmitInput(step_id=step.id, actor=actor, values=values, channel="web")
                out += [(approve, None, None), (approve, None, None), (submit, None, None)]
            reject = tr.Decide(
                step_id=step.id,
                actor=step.approvers[0] if step.approvers else "UX",
                decision="reject",
                channel="slack",
            )
            out.append((reject, None, None))
            out.append((tr.Signal(name=step.id, payload={"ok": True}), None, None))
        for key, command in self.commands.items():
            if command.type == "resolve_approvers":
                resolved = tr.ApproversResolved(
                    command_key=key, step_id=command.step_id, approvers=["UFFF"]
                )
                out.append((resolved, key, None))
                continue
            success = tr.CommandSucceeded(
                command_key=key, result={"status": 200, "response": {"id": 7}}
            )
            out += [(success, key, None)] * 3
            for reason in ("5xx", "permanent"):
                failed = tr.CommandFailed(command_key=key, error="boom", reason=reason)
                out.append((failed, key, None))
        for timer in self.timers.values():
            out.append((tr.TimerFired(timer=timer), None, timer.id))
        return out

    def step(self, choice: int) -> RunChange | None:
        if self.state is None:
            trigger: tr.Trigger = tr.StartRun(
                run_id=self.run_id,
                tenant_id=self.tenant_id,
                requester="UREQ",
                inputs={"amount": 150},
            )
            done = fired = None
        elif choice % 31 == 0 or not (options := self.options()):
            trigger, done, fired = tr.Cancel(actor="UREQ", reason="changed my mind"), None, None
        else:
            trigger, done, fired = options[choice % len(options)]
        self.now += timedelta(minutes=choice % 7)
        if isinstance(trigger, tr.TimerFired):
            self.now = max(self.now, trigger.timer.due_at)
        try:
            decision = decide(WORKFLOW, self.state, trigger, self.now)
        except EngineError:
            return None  # a refused request (not an approver, step not pending...)
        if done is not None:
            self.commands.pop(done)
        if fired is not None:
            self.timers.pop(fired)
        if not decision:
            return None
        expected = self.state.seq if self.state is not None else 0
        self.state = fold(self.state, decision.events)
        self.commands.update((c.key, c) for c in decision.commands)
        for timer_id in decision.cancel_timers:
            self.timers.pop(timer_id, None)
        self.timers.update((t.id, t) for t in decision.timers)
        return RunChange(self.state, expected, decision, done_command=done, fired_timer=fired)


async def _check(store: Any, tenant_id: str, run_id: str) -> None:
    stored = await store.runs.load(tenant_id, run_id)
    recorded = await store.runs.events(tenant_id, run_id)
    assert [e.seq for e in recorded] == list(range(1, len(recorded) + 1))
    rebuilt = replay(e.event for e in recorded)
    assert rebuilt == stored
    pending = await store.runs.pending_tasks(tenant_id)
    assert pending == sorted(
        pending_rows(rebuilt), key=lambda p: (p.since, p.run_id, p.step_id, p.principal)
    )
    if rebuilt.status in FINAL_STATUSES:  # a finished run waits on nobody
        assert rebuilt.finished_at is not None and pending == []
    if isinstance(store, Storage):
        query = select(steps).where(steps.c.tenant_id == tenant_id, steps.c.run_id == run_id)
        async with store.engine.connect() as conn:
            rows = {r.step_id: r for r in (await conn.execute(query)).all()}
        assert set(rows) == set(rebuilt.steps)
        for step in rebuilt.steps.values():
            row = rows[step.id]
            assert (row.type, row.status, row.attempt, row.outcome) == (
                step.type,
                step.status,
                step.attempt,
                step.outcome,
            )
            assert (row.started_at, row.finished_at) == (step.started_at, step.finished_at)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    script=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40),
    batch=st.integers(min_value=1, max_value=3),
)
async def test_replaying_stored_events_rebuilds_the_projections(
    store_backend: Any, script: list[int], batch: int
) -> None:
    # Each example is a new run of a new tenant in the same database; changes are committed
    # `batch` at a time.
    number = next(_runs)
    driver = Driver(f"T{number}", f"run-{number}")
    pending: list[RunChange] = []
    for choice in [0, *script]:
        change = driver.step(choice)
        if change is not None:
            pending.append(change)
        if len(pending) >= batch:
            await store_backend.runs.commit(pending)
            pending = []
    if pending:
        await store_backend.runs.commit(pending)
    await _check(store_backend, driver.tenant_id, driver.run_id)
