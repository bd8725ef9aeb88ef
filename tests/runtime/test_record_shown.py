"""What a channel showed is recorded for waiting steps; told the state it drew from, the engine
does not even read the run for renderings of steps that state shows closed."""

from __future__ import annotations

from engine.events import RequestShown
from engine.runtime.service import Engine
from engine.shown import Shown
from tests.runtime.conftest import TENANT

FLOW = """
name: check
steps:
  - id: ok
    type: approval
    approvers: [UANA]
"""


def card(text: str) -> Shown:
    return Shown(step_id="ok", recipient="UANA", channel="slack", surface="slack card", text=text)


async def shown_events(engine: Engine, run_id: str) -> list[RequestShown]:
    return [
        r.event for r in await engine.timeline(TENANT, run_id) if isinstance(r.event, RequestShown)
    ]


async def test_a_waiting_step_drawn_is_recorded_with_or_without_the_state(engine: Engine) -> None:
    await engine.apply_definition(TENANT, FLOW)
    run = await engine.start_run(TENANT, "check", {}, "UREQ")
    await engine.record_shown(TENANT, run.run_id, [card("Approve the check?")], drawn_from=run)
    await engine.record_shown(TENANT, run.run_id, [card("Approve it now?")])
    assert [e.text for e in await shown_events(engine, run.run_id)] == [
        "Approve the check?",
        "Approve it now?",
    ]


async def test_a_closed_step_drawn_is_neither_recorded_nor_read(engine: Engine) -> None:
    await engine.apply_definition(TENANT, FLOW)
    started = await engine.start_run(TENANT, "check", {}, "UREQ")
    closed = await engine.decide(TENANT, started.run_id, "ok", "UANA", "approve")
    reads = 0
    load = engine.runs.load

    async def counted(tenant_id: str, run_id: str) -> object:
        nonlocal reads
        reads += 1
        return await load(tenant_id, run_id)

    engine.runs.load = counted  # type: ignore[method-assign]
    await engine.record_shown(TENANT, started.run_id, [card("Approved by Ana")], drawn_from=closed)
    assert reads == 0
    engine.runs.load = load  # type: ignore[method-assign]
    # Without the state, the run is read and the closed step's card still records nothing.
    await engine.record_shown(TENANT, started.run_id, [card("Approved by Ana")])
    assert await shown_events(engine, started.run_id) == []
