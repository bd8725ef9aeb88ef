"""Fault suite: the real process under API load while its own PostgreSQL is restarted and
stopped, its own Redis is frozen (SIGSTOP) and stopped, and the process itself is killed
(SIGKILL) and restarted.

What must hold, whatever happened: every run whose start was acknowledged (a 2xx) completes;
no http step is acted on under two different attempt keys (the same key again is an idempotent
redelivery, allowed); while the database is down the API and the pages answer 503 with
Retry-After, never 500, and the process serves again by itself once it is back; and runs keep
completing while Redis is frozen or gone (nothing on the dispatch path waits on Redis).

The figures (runs, faults, losses, double applications) are printed; `-s` shows them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.fault.load import WORKFLOW, Child, Load, Target, create_key, serve_target
from tests.fault.services import Postgres, RedisServer, free_port, temp_root

pytestmark = pytest.mark.fault

TENANTS = ("T0FAULTA", "T0FAULTB", "T0FAULTC")
STEP_TIMEOUT = 60.0  # seconds any one phase may take before the test gives up on it
FINISH_TIMEOUT = 90.0  # seconds for every acknowledged run to complete at the end
WHILE_FROZEN = 30  # runs that must complete while Redis is frozen (and again while it is gone)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Postgres, RedisServer]]:
    postgres, redis = Postgres(temp_root()), RedisServer(temp_root())
    try:
        await postgres.init()
        await postgres.start()
        await redis.start()
        yield postgres, redis
    finally:
        await redis.stop()
        await postgres.shutdown()
        for root in (postgres.root, redis.root):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def target() -> AsyncIterator[tuple[Target, str]]:
    receiver = Target()
    runner, url = await serve_target(receiver)
    try:
        yield receiver, url
    finally:
        await runner.cleanup()


async def statuses(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch("SELECT run_id, status FROM runs")
        return {row["run_id"]: row["status"] for row in rows}
    finally:
        await conn.close()


async def until(
    what: str, check: Callable[[], Awaitable[bool]], within: float = STEP_TIMEOUT
) -> None:
    """Poll the async `check()` until it is true; fail naming `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"gave up waiting: {what}")


async def test_acknowledged_runs_survive_database_redis_and_process_faults(
    servers: tuple[Postgres, RedisServer], target: tuple[Target, str], tmp_path: Path
) -> None:
    postgres, redis = servers
    receiver, target_url = target
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "HTTP_PORT": str(port),
        "OUTBOUND_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
        # Commands a killed process had claimed come back after the lease.
        "COMMAND_LEASE_SECONDS": "10",
        "TIMER_LEASE_SECONDS": "10",
        "WORKFLOWS_DIR": str(tmp_path / "no-workflows"),
        "SECRET_KEY": "fault-suite-secret-0123456789abcdef",
        "OUTBOX_MAIL_DIR": str(tmp_path / "mail"),
        "LOG_LEVEL": "INFO",
    }
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SMTP_URL"):
        env.pop(name, None)
    (tmp_path / "no-workflows").mkdir()
    keys = {tenant: await create_key(env, tenant) for tenant in TENANTS}
    base = f"http://127.0.0.1:{port}"
    child = Child(env, tmp_path / "app.log")
    load = Load(base, keys)
    faults: Counter[str] = Counter()
    page_answers: list[tuple[int, str | None]] = []

    async def completed(run_ids: list[str]) -> bool:
        found = await statuses(postgres.dsn)
        return all(found.get(r) == "completed" for r in run_ids)

    try:
        await child.start()
        async with aiohttp.ClientSession(base_url=base) as http:
            source = {"source": WORKFLOW.format(target=target_url)}
            for key in keys.values():
                auth = {"Authorization": f"Bearer {key}"}
                async with http.post("/api/v1/workflows", json=source, headers=auth) as r:
                    assert r.status in (200, 201), await r.text()
            load.start()
            await asyncio.wait_for(load.acked_after(30), STEP_TIMEOUT)

            # 1. PostgreSQL restarts under load (fast shutdown: every session is cut).
            load.phase = receiver.phase = "pg-restart"
            await postgres.restart()
            faults["postgres restart"] += 1
            load.phase = receiver.phase = "after-pg-restart"
            await asyncio.wait_for(load.acked_after(30), STEP_TIMEOUT)

            # 2. PostgreSQL is down: the API and the pages answer 503 with Retry-After.
            await postgres.stop()
            faults["postgres stop"] += 1
            load.phase = receiver.phase = "pg-down"
            await until("the API answers 503 while the database is down", _saw_503(load))
            async with http.get("/runs", cookies={"cs_session": "not-a-session"}) as r:
                page_answers.append((r.status, r.headers.get("Retry-After")))
            load.phase = receiver.phase = "pg-starting"
            await postgres.start()
            load.phase = receiver.phase = "after-pg-down"
            await asyncio.wait_for(load.acked_after(30), STEP_TIMEOUT)

            # 3. Redis freezes: runs go on completing (nothing on the dispatch path waits).
            redis.freeze()
            faults["redis freeze"] += 1
            load.phase = receiver.phase = "redis-frozen"
            await asyncio.wait_for(load.acked_after(WHILE_FROZEN), STEP_TIMEOUT)
            frozen = [r for r, _ in list(load.acked.items())[-WHILE_FROZEN:]]
            await until("runs complete while Redis is frozen", lambda: completed(frozen))
            redis.thaw()

            # 4. Redis stops, and comes back.
            await redis.stop()
            faults["redis stop"] += 1
            load.phase = receiver.phase = "redis-down"
            await asyncio.wait_for(load.acked_after(WHILE_FROZEN), STEP_TIMEOUT)
            gone = [r for r, _ in list(load.acked.items())[-WHILE_FROZEN:]]
            await until("runs complete while Redis is down", lambda: completed(gone))
            await redis.start()

            # 5. The process is killed under load, and started again.
            load.phase = receiver.phase = "app-killed"
            await child.kill()
            faults["app SIGKILL"] += 1
            await child.start()
            load.phase = receiver.phase = "after-restart"
            await asyncio.wait_for(load.acked_after(30), STEP_TIMEOUT)
            await load.stop()
            receiver.phase = "finishing"

        acked = list(load.acked)
        await until(
            "every acknowledged run completes", lambda: completed(acked), within=FINISH_TIMEOUT
        )
    finally:
        await load.stop()
        await child.stop()

    found = await statuses(postgres.dsn)
    lost = [r for r in load.acked if found.get(r) != "completed"]
    twice = receiver.applied_twice()
    answers = Counter((a.phase, a.status) for a in load.answers)
    errors = [a for a in load.answers if a.status >= 500 and a.status != 503]
    unavailable = [a for a in load.answers if a.status == 503]
    print(
        f"\nfault suite: {len(load.acked)} runs acknowledged over {len(TENANTS)} tenants,"
        f" {len(load.answers)} starts tried; faults {dict(faults)};"
        f" {len(lost)} acknowledged runs lost; {len(twice)} http steps applied twice;"
        f" {receiver.redelivered()} same-key redeliveries {dict(receiver.redeliveries)};"
        f" {len(unavailable)} answers 503;"
        f" answers by phase {dict(sorted(answers.items()))}; log {child.log_path}"
    )
    assert not lost, f"acknowledged runs not completed: {Counter(found.get(r) for r in lost)}"
    assert not twice, f"http steps applied under two attempt keys: {list(twice.items())[:5]}"
    applied = receiver.attempts()
    unapplied = [(r, s) for r in load.acked for s in ("book", "confirm") if (r, s) not in applied]
    assert not unapplied, f"completed without their http calls: {unapplied[:5]}"
    assert receiver.missing_key == 0
    assert not errors, f"5xx other than 503: {[(a.phase, a.status, a.body) for a in errors[:5]]}"
    assert unavailable and all(a.retry_after for a in unavailable), "503 without Retry-After"
    assert load.by_phase("pg-down")[503] > 0
    assert page_answers == [(503, page_answers[0][1])] and page_answers[0][1], page_answers


def _saw_503(load: Load) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(a.phase == "pg-down" and a.status >= 500 for a in load.answers)

    return check
