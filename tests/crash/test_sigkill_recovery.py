"""Crash test: the serving process is killed with SIGKILL at random moments while 200 runs move
through two http steps and a notify; after a final restart every run completes, every http side
effect reached the target with its idempotency key, and no key was acted on twice.

The child is the real `python app.py serve` on PostgreSQL (a fresh schema). The test process only
records the runs (the engine facade without its loops); the child carries them out. Commands a
killed child had claimed come back when their lease ends (RuntimeSettings.command_lease, 60 s,
not settable from the environment), so the last child needs up to a minute to finish them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from engine.runtime.service import Engine
from storage import open_storage
from tests.conftest import empty_database

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
TENANT = "local"
RUNS = 200
KILLS = 4
SEED = int(os.environ.get("CRASH_SEED", "20261126"))  # the kill moments; printed
FINISH_TIMEOUT = 120.0  # seconds for every run to complete after the last restart

WORKFLOW = """\
name: crash-two-calls
title: Two calls then a notification
steps:
  - id: first
    type: http
    method: POST
    url: "{target}/first"
    json: {{run: "{{{{ run.id }}}}"}}
    expect: [200]
    timeout: 10s
  - id: second
    type: http
    method: POST
    url: "{target}/second"
    json: {{run: "{{{{ run.id }}}}", first: "{{{{ steps.first.response.seen }}}}"}}
    expect: [200]
    timeout: 10s
  - id: done
    type: notify
    to: requester
    message: "Run {{{{ run.id }}}} is done."
"""


@dataclass
class IdempotentTarget:
    """An HTTP service that acts on each Idempotency-Key once and answers a repeated key with the
    response it gave the first time, as an idempotent receiver does."""

    deliveries: list[str | None] = field(default_factory=list)
    responses: dict[str, dict[str, int]] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        self.deliveries.append(key)
        if key is None:
            return web.json_response({"error": "no Idempotency-Key"}, status=400)
        if key not in self.responses:  # acted on: the first time the key is seen
            self.responses[key] = {"seen": len(self.responses) + 1}
        return web.json_response(self.responses[key])


@pytest.fixture
async def target() -> AsyncIterator[tuple[IdempotentTarget, str]]:
    service = IdempotentTarget()
    app = web.Application()
    app.router.add_post("/{name}", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database("postgres", tmp_path) as url:
        yield url


class Child:
    """`python app.py serve` in a subprocess; its log goes to a file, `ready` is set when it says
    it serves."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ready = asyncio.Event()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "app.py",
            "serve",
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        with self.log_path.open("a") as log:
            log.write(f"--- child pid {proc.pid}\n")
            async for line in proc.stderr:
                text = line.decode(errors="replace")
                log.write(text)
                if " ready;" in text:
                    self.ready.set()

    async def wait_ready(self) -> None:
        """Until the child serves; fails with its log when it exits first."""
        assert self.proc is not None
        exited = asyncio.create_task(self.proc.wait())
        readied = asyncio.create_task(self.ready.wait())
        done, pending = await asyncio.wait(
            {exited, readied}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if readied not in done:
            pytest.fail(f"the child did not start:\n{self.log_path.read_text()[-3000:]}")

    async def stop(self, sig: int) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), 30)
        if self._reader is not None:
            await self._reader
        self.proc = None


async def count_completed(engine: Engine) -> int:
    completed, cursor = 0, None
    while True:
        page = await engine.list_runs(TENANT, status="completed", limit=500, cursor=cursor)
        completed += len(page.runs)
        if page.next_cursor is None:
            return completed
        cursor = page.next_cursor


async def test_runs_survive_sigkill_and_each_side_effect_is_acted_on_once(
    target: tuple[IdempotentTarget, str], postgres_url: str, tmp_path: Path
) -> None:
    service, target_url = target
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    definition = WORKFLOW.format(target=target_url)
    (workflows / "crash.yaml").write_text(definition)

    storage = await open_storage(postgres_url, create=True)
    engine = Engine.from_storage(storage)  # only records runs: its loops are never started
    await engine.apply_definition(TENANT, definition, "crash.yaml")

    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "OUTBOUND_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
        # Work claimed by a killed child comes back after the lease; http steps here answer in
        # milliseconds, so a short lease keeps the test quick without double-sending live calls.
        "COMMAND_LEASE_SECONDS": "5",
        "WORKFLOWS_DIR": str(workflows),
        "HTTP_PORT": "0",
        "TENANT": TENANT,
        "SECRET_KEY": "crash-test-secret",
        "OUTBOX_MAIL_DIR": str(tmp_path / "mail"),
        "LOG_LEVEL": "INFO",
    }
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "REDIS_URL"):
        env.pop(name, None)
    child = Child(env, tmp_path / "child.log")
    rng = random.Random(SEED)
    began = time.monotonic()
    try:
        await child.start()
        await child.wait_ready()

        # The runs arrive in waves, one per child, so every child is killed with work in hand.
        wave_size = RUNS // (KILLS + 1)
        run_ids: list[str] = []

        async def start_wave() -> None:
            for _ in range(wave_size):
                run = await engine.start_run(TENANT, "crash-two-calls", {}, "U0REQUESTER")
                run_ids.append(run.run_id)

        for _ in range(KILLS):
            wave = asyncio.create_task(start_wave())
            await asyncio.sleep(rng.uniform(0.3, 1.5))  # a random moment to crash at
            await child.stop(signal.SIGKILL)
            await wave
            await child.start()
            await child.wait_ready()
        await start_wave()
        assert len(run_ids) == RUNS

        # The state lives in the child's process, so the test polls the database for it.
        deadline = time.monotonic() + FINISH_TIMEOUT
        completed = await count_completed(engine)
        while completed < RUNS and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            completed = await count_completed(engine)
        elapsed = time.monotonic() - began
    finally:
        await child.stop(signal.SIGTERM)
        await storage.close()

    states: Counter[str] = Counter()
    if completed < RUNS:
        storage = await open_storage(postgres_url)
        try:
            engine = Engine.from_storage(storage)
            for run_id in run_ids:
                states[(await engine.get_run(TENANT, run_id)).status] += 1
        finally:
            await storage.close()

    deliveries = Counter(service.deliveries)
    duplicates = sum(n - 1 for n in deliveries.values())
    by_step = Counter(str(key).split(":")[1] for key, n in deliveries.items() for _ in range(n - 1))
    print(
        f"\nseed {SEED}: {KILLS} kills, {len(service.deliveries)} deliveries,"
        f" {len(deliveries)} distinct keys, {duplicates} duplicate deliveries {dict(by_step)},"
        f" {completed}/{RUNS} completed after {elapsed:.1f}s"
    )
    assert completed == RUNS, f"runs by status: {dict(states)}; log: {child.log_path}"
    assert None not in deliveries, "a request came without an Idempotency-Key"
    expected = {f"{run_id}:{step}:1" for run_id in run_ids for step in ("first", "second")}
    assert set(service.responses) == expected
    assert len(service.responses) == 2 * RUNS
