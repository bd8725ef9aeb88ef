"""Automated attempts: retries with backoff, giving up, and outcomes that arrive late or twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine import commands as cmd
from engine import triggers as tr
from engine.decider.retry import backoff, jitter_fraction, retries_on
from engine.definitions.models import RetryPolicy
from tests.engine.harness import T0, Run


def http(**retry: Any) -> dict[str, Any]:
    return {"id": "call", "type": "http", "url": "https://x", "retry": retry}


NO_JITTER = {"initial_delay": "10s", "multiplier": 2, "jitter": False, "max_attempts": 4}


def test_retries_with_exponential_backoff_until_success() -> None:
    run = Run(http(**NO_JITTER))
    run.fail("r1:call:1", error="HTTP 503", reason="503")
    [failed] = run.last.events
    assert failed.type == "attempt_failed" and failed.retry_at == T0 + timedelta(seconds=10)
    timer = run.timer("retry")
    assert (timer.id, timer.attempt, timer.due_at) == ("r1:call:retry:2", 2, failed.retry_at)
    assert run.status("call") == "retrying"

    run.fire(timer)
    assert run.types() == ["step_started"]
    assert run.commands(cmd.CallHttp)[0].key == "r1:call:2"
    run.fail("r1:call:2", reason="timeout")
    assert run.timer("retry").due_at == run.now + timedelta(seconds=20)
    run.fire(run.timer("retry"))
    run.succeed("r1:call:3", status=200, response="ok")
    assert run.run.steps["call"].attempt == 3
    assert run.run.status == "completed"


def test_retries_exhausted_fail_the_run() -> None:
    run = Run(http(**{**NO_JITTER, "max_attempts": 3}))
    for attempt in (1, 2):
        run.fail(f"r1:call:{attempt}", error="HTTP 502", reason="5xx")
        run.fire(run.timer("retry"))
    run.fail("r1:call:3", error="HTTP 502", reason="5xx")
    assert run.types() == ["attempt_failed", "step_failed", "run_finished"]
    assert run.last.events[0].retry_at is None  # type: ignore[union-attr]
    assert run.run.steps["call"].error == "HTTP 502 (gave up after 3 attempts)"
    assert run.run.status == "failed"


@pytest.mark.parametrize("reason", ["permanent", "400", "404"])
def test_errors_that_do_not_retry_fail_at_once(reason: str) -> None:
    run = Run(http())
    run.fail("r1:call:1", error="HTTP 400", reason=reason)
    assert run.types() == ["attempt_failed", "step_failed", "run_finished"]
    assert run.run.steps["call"].error == "HTTP 400"


def test_retry_on_an_explicit_status_code() -> None:
    run = Run(http(retry_on=[409]))
    run.fail("r1:call:1", error="HTTP 409", reason="409")
    assert run.run.steps["call"].status == "retrying"
    run2 = Run(http(retry_on=[409]))
    run2.fail("r1:call:1", error="HTTP 503", reason="503")
    assert run2.run.status == "failed"


def test_retry_on_matching() -> None:
    policy = RetryPolicy()
    assert retries_on(policy, "503") and retries_on(policy, "5xx") and retries_on(policy, "429")
    assert retries_on(policy, "timeout") and retries_on(policy, "connection")
    assert not retries_on(policy, "404") and not retries_on(policy, "permanent")


def test_backoff_is_capped_and_jitter_stays_in_half_to_full() -> None:
    policy = RetryPolicy(initial_delay=10, multiplier=3, max_delay=60, jitter=False)  # type: ignore[arg-type]
    assert [backoff(policy, n, "k").total_seconds() for n in (1, 2, 3, 4)] == [10, 30, 60, 60]
    jittered = policy.model_copy(update={"jitter": True})
    for n in range(50):
        key = f"r{n}:call:1"
        delay = backoff(jittered, 1, key).total_seconds()
        assert 5 <= delay <= 10
        assert delay == backoff(jittered, 1, key).total_seconds()  # deterministic
    assert len({jitter_fraction(f"r{n}") for n in range(50)}) == 50


def test_default_jitter_delays_are_within_bounds() -> None:
    run = Run(http())
    run.fail("r1:call:1", reason="connection")
    delay = run.timer("retry").due_at - T0
    assert timedelta(seconds=0.5) <= delay <= timedelta(seconds=1)


def test_notify_failures_retry_with_the_default_policy() -> None:
    run = Run({"id": "n", "type": "notify", "message": "hi"})
    run.fail("r1:n:1", reason="429")
    run.fire(run.timer("retry"))
    assert run.commands(cmd.SendNotification)[0].key == "r1:n:2"


def test_stale_and_bogus_outcomes_are_ignored() -> None:
    run = Run(http(**NO_JITTER), {"id": "n", "type": "notify", "message": "x"})
    assert not run.succeed("r1:nope:1")
    assert not run.succeed("other-run:call:1")
    retry = run.timer("retry", run.fail("r1:call:1", reason="5xx"))
    assert not run.fail("r1:call:1", reason="5xx")  # the same failure delivered twice
    assert not run.succeed("r1:call:1")  # attempt 1 is no longer in flight
    assert not run.fire(retry.model_copy(update={"id": "r1:call:retry:7"}))
    run.fire(retry)
    assert not run.fire(retry)  # fired twice
    run.succeed("r1:call:2", status=200)
    assert not run.succeed("r1:call:2", status=200)
    assert run.run.current_step == "n"


def test_outcomes_after_the_run_finished_are_ignored() -> None:
    run = Run(http())
    run.succeed("r1:call:1", status=200)
    assert run.run.status == "completed"
    assert not run.fail("r1:call:1")
    timer = cmd.Timer(
        id="r1:call:retry:2",
        tenant_id="T1",
        run_id="r1",
        due_at=T0,
        kind="retry",
        step_id="call",
        attempt=2,
    )
    assert not run.do(tr.TimerFired(timer=timer))
