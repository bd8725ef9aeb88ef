"""Retries with backoff, compensation in reverse order (saga) and cancel, end to end."""

from __future__ import annotations

from engine.runtime.service import Engine
from engine.testing import ManualClock
from tests.runtime.conftest import TENANT, Target, setup, statuses

RETRYING = """
name: retrying
steps:
  - id: call
    type: http
    url: TARGET/flaky
    retry: {max_attempts: 4, initial_delay: 10s, multiplier: 3, jitter: false}
"""


async def fire_retries(engine: Engine, clock: ManualClock, run_id: str, step: str) -> list[float]:
    """Advance the clock to each retry the step schedules; returns the delays it waited."""
    delays: list[float] = []
    while True:
        await engine.run_until_idle()
        state = await engine.get_run(TENANT, run_id)
        retry_at = state.steps[step].retry_at
        if state.steps[step].status != "retrying" or retry_at is None:
            return delays
        delays.append((retry_at - clock.now()).total_seconds())
        assert await engine.run_until_idle() == 0  # nothing fires before its time
        clock.set(retry_at)


async def test_retries_back_off_and_reach_success(
    engine: Engine, target: Target, clock: ManualClock
) -> None:
    await setup(engine, target, RETRYING)
    target.respond("/flaky", 503, 429, 502)
    run = await engine.start_run(TENANT, "retrying", {}, "UREQ")

    assert await fire_retries(engine, clock, run.run_id, "call") == [10.0, 30.0, 90.0]
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "completed"
    assert run.steps["call"].attempt == 4
    # Each attempt carries its own idempotency key, each sent exactly once.
    assert target.keys() == {f"{run.run_id}:call:{n}": 1 for n in range(1, 5)}


async def test_retries_exhausted_fail_the_run(
    engine: Engine, target: Target, clock: ManualClock
) -> None:
    await setup(engine, target, RETRYING)
    target.respond("/flaky", 500, 500, 500, 500)
    run = await engine.start_run(TENANT, "retrying", {}, "UREQ")

    assert len(await fire_retries(engine, clock, run.run_id, "call")) == 3
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "failed"
    assert "returned 500" in (run.steps["call"].error or "")
    assert "gave up after 4 attempts" in run.reason
    assert len(target.requests) == 4


async def test_a_status_that_does_not_retry_fails_at_once(engine: Engine, target: Target) -> None:
    await setup(engine, target, RETRYING)
    target.respond("/flaky", 400)
    run = await engine.start_run(TENANT, "retrying", {}, "UREQ")
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "failed"
    assert run.steps["call"].error is not None and "returned 400" in run.steps["call"].error


SAGA = """
name: saga
steps:
  - id: reserve
    type: http
    url: TARGET/reserve
    compensate: {method: DELETE, url: "TARGET/reserve/{{ steps.reserve.response.id }}"}
  - id: charge
    type: http
    url: TARGET/charge
    compensate: {method: POST, url: TARGET/refund}
  - id: log
    type: http
    url: TARGET/log
  - id: ok
    type: approval
    approvers: [UBOSS]
  - id: ship
    type: http
    url: TARGET/ship
    retry: {max_attempts: 1}
"""


async def test_a_failure_undoes_completed_steps_in_reverse_order(
    engine: Engine, target: Target
) -> None:
    await setup(engine, target, SAGA)
    target.respond("/ship", 500)
    run = await engine.start_run(TENANT, "saga", {}, "UREQ")
    await engine.run_until_idle()
    await engine.decide(TENANT, run.run_id, "ok", "UBOSS", "approve")
    await engine.run_until_idle()

    assert target.paths() == [
        "POST /reserve",
        "POST /charge",
        "POST /log",
        "POST /ship",
        "POST /refund",
        "DELETE /reserve/x1",
    ]
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "failed"
    assert statuses(run)["charge"] == statuses(run)["reserve"] == "compensated"
    assert target.requests[-1].key == f"{run.run_id}:reserve:comp:1"


async def test_a_rejection_undoes_completed_steps(engine: Engine, target: Target) -> None:
    await setup(engine, target, SAGA)
    run = await engine.start_run(TENANT, "saga", {}, "UREQ")
    await engine.run_until_idle()
    await engine.decide(TENANT, run.run_id, "ok", "UBOSS", "reject")
    await engine.run_until_idle()

    assert target.paths()[-2:] == ["POST /refund", "DELETE /reserve/x1"]
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "rejected"
    assert "rejected by UBOSS" in run.reason


async def test_cancel_mid_run_compensates_and_stops(engine: Engine, target: Target) -> None:
    await setup(engine, target, SAGA)
    run = await engine.start_run(TENANT, "saga", {}, "UREQ")
    await engine.run_until_idle()
    assert [t.step_id for t in await engine.pending_for(TENANT, "UBOSS")] == ["ok"]

    await engine.cancel(TENANT, run.run_id, "UREQ", reason="changed my mind")
    await engine.run_until_idle()

    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "cancelled"
    assert run.reason == "cancelled by UREQ: changed my mind"
    assert statuses(run)["ok"] == "cancelled" and statuses(run)["ship"] == "pending"
    assert target.paths()[-2:] == ["POST /refund", "DELETE /reserve/x1"]
    assert await engine.pending_for(TENANT, "UBOSS") == []


async def test_a_step_named_changed_retries_like_any_other(
    engine: Engine, target: Target, clock: ManualClock
) -> None:
    """A step's attempt keys ({run}:{step}:{n}) never collide with the run's own commands."""
    await setup(engine, target, RETRYING.replace("id: call", "id: changed"))
    target.respond("/flaky", 503, 502)
    run = await engine.start_run(TENANT, "retrying", {}, "UREQ")
    await fire_retries(engine, clock, run.run_id, "changed")
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "completed"
    assert target.keys() == {f"{run.run_id}:changed:{n}": 1 for n in range(1, 4)}
