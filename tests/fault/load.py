"""The fault suite's moving parts besides the servers: the real process (`python app.py serve`)
as a child, the http-step target that records every delivery, and the API load that starts runs
and records what each start was answered.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0  # seconds the child gets to say it serves

WORKFLOW = """\
name: fault-load
title: A call, a timer, a call, then a mail to the requester
steps:
  - id: book
    type: http
    method: POST
    url: "{target}/book"
    json: {{run: "{{{{ run.id }}}}"}}
    expect: [200]
    timeout: 10s
  - id: pause
    type: wait
    duration: 1s
  - id: confirm
    type: http
    method: POST
    url: "{target}/confirm"
    json: {{run: "{{{{ run.id }}}}", booked: "{{{{ steps.book.response.n }}}}"}}
    expect: [200]
    timeout: 10s
  - id: tell
    type: notify
    to: requester
    message: "Booked."
"""
# The requester is an email address: the notify step and the final run_changed mail go through
# the sent-mail guard, which asks Redis, on the dispatch path.
REQUESTER = "email:load@example.com"


@dataclass
class Target:
    """An http-step receiver that acts on each Idempotency-Key once (a repeated key gets the
    first answer again, as an idempotent service does) and records every delivery."""

    deliveries: Counter[str] = field(default_factory=Counter)
    missing_key: int = 0
    phase: str = ""  # what the test is doing; a redelivery is counted under it
    redeliveries: Counter[str] = field(default_factory=Counter)  # phase -> repeated keys

    async def handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            self.missing_key += 1
            return web.json_response({"error": "no Idempotency-Key"}, status=400)
        if key in self.deliveries:
            self.redeliveries[self.phase] += 1
        self.deliveries[key] += 1
        return web.json_response({"n": len(self.deliveries)})

    def attempts(self) -> dict[tuple[str, str], set[str]]:
        """(run, step) -> the attempt keys acted on for it."""
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        for key in self.deliveries:
            run_id, step, attempt = key.rsplit(":", 2)
            out[(run_id, step)].add(attempt)
        return out

    def applied_twice(self) -> dict[tuple[str, str], set[str]]:
        """Steps acted on under more than one attempt key: applied twice."""
        return {k: v for k, v in self.attempts().items() if len(v) > 1}

    def redelivered(self) -> int:
        """Deliveries of a key already acted on (harmless: the same key)."""
        return sum(n - 1 for n in self.deliveries.values())


async def serve_target(target: Target) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/{name}", target.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def cli(env: dict[str, str], *args: str) -> str:
    """`python app.py ARGS` to its end; its stdout, or a failure that shows its output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        pytest.fail(f"app.py {' '.join(args)} exited with {proc.returncode}:\n{err.decode()}")
    return out.decode()


async def create_key(env: dict[str, str], tenant: str) -> str:
    out = await cli(env, "--json", "apikeys", "create", "fault-load", "--tenant", tenant)
    return str(json.loads(out)["secret"])


class Child:
    """`python app.py serve`; its log goes to a file, `ready` is set when it says it serves."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.starts = 0

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
        self.starts += 1
        self._reader = asyncio.create_task(self._read(self.proc))
        await self._wait_ready()

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        with self.log_path.open("a") as log:
            log.write(f"--- child pid {proc.pid}\n")
            async for line in proc.stderr:
                text = line.decode(errors="replace")
                log.write(text)
                if " ready;" in text:
                    self.ready.set()

    async def _wait_ready(self) -> None:
        assert self.proc is not None
        exited = asyncio.create_task(self.proc.wait())
        readied = asyncio.create_task(self.ready.wait())
        done, pending = await asyncio.wait(
            {exited, readied}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if readied not in done:
            pytest.fail(f"the app did not start:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader
        self.proc = None


@dataclass
class Answer:
    phase: str
    status: int  # 0: no answer (the connection failed)
    retry_after: str | None
    body: str


@dataclass
class Load:
    """Workers that start runs through the REST API, round robin over the tenants, each start
    with an Idempotency-Key of its own; every answer is kept with the phase it came in."""

    base_url: str
    keys: dict[str, str]  # tenant -> API key
    workers: int = 3
    pause: float = 0.02  # seconds between two starts of a worker: the load's pace, not a wait
    phase: str = "warm-up"
    acked: dict[str, str] = field(default_factory=dict)  # run id -> tenant, for every 2xx
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _acked_event: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        counter = itertools.count()
        tenants = itertools.cycle(sorted(self.keys))
        self._tasks = [
            asyncio.create_task(self._work(counter, tenants)) for _ in range(self.workers)
        ]

    async def _work(self, counter: itertools.count[int], tenants: itertools.cycle[str]) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(base_url=self.base_url, timeout=timeout) as http:
            while not self._stop.is_set():
                n, tenant = next(counter), next(tenants)
                await self.start_one(http, tenant, f"load-{n}")
                await asyncio.sleep(self.pause)

    async def start_one(self, http: aiohttp.ClientSession, tenant: str, key: str) -> None:
        phase = self.phase
        headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Idempotency-Key": key}
        body = {"workflow": "fault-load", "requester": REQUESTER}
        try:
            async with http.post("/api/v1/runs", json=body, headers=headers) as r:
                text = await r.text()
                answer = Answer(phase, r.status, r.headers.get("Retry-After"), text[:500])
                if 200 <= r.status < 300:
                    self.acked[json.loads(text)["run_id"]] = tenant
                    self._acked_event.set()
        except (aiohttp.ClientError, TimeoutError) as exc:  # the app is down or was killed
            answer = Answer(phase, 0, None, repr(exc))
        self.answers.append(answer)

    async def acked_after(self, count: int) -> None:
        """Return once `count` more runs were acknowledged."""
        goal = len(self.acked) + count
        while len(self.acked) < goal:
            self._acked_event.clear()
            await self._acked_event.wait()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def by_phase(self, phase: str) -> Counter[int]:
        return Counter(a.status for a in self.answers if a.phase == phase)
