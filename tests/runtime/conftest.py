"""Fixtures for the runtime tests: a real local HTTP service as the target of http steps, and an
`Engine` on every store backend (memory, SQLite, PostgreSQL) with a manual clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from engine.runtime.service import Engine
from engine.secrets import Secrets
from engine.testing import ManualClock, MemoryStorage
from outbound.http import HttpHandler
from storage import Storage

TENANT = "T1"
SECRETS = {TENANT: {"TOKEN": "s3cret"}}  # what the settings would seed


@dataclass
class Received:
    method: str
    path: str
    key: str | None
    body: Any
    headers: dict[str, str]


@dataclass
class Target:
    """A local HTTP service that records every request and answers as scripted per path."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)

    def respond(self, path: str, *statuses: int) -> None:
        """Answer the next requests to `path` with these statuses, then 200."""
        self.scripts[path] = list(statuses)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def keys(self) -> Counter[str | None]:
        return Counter(r.key for r in self.requests)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            Received(
                request.method,
                request.path,
                request.headers.get("Idempotency-Key"),
                body,
                dict(request.headers),
            )
        )
        script = self.scripts.get(request.path) or []
        status = script.pop(0) if script else 200
        answer = {"id": f"x{len(self.requests)}", "path": request.path, "got": body}
        return web.json_response(answer, status=status)


@asynccontextmanager
async def local_server(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port for one test; its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    found = Target()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    async with local_server(app) as found.url:
        yield found


@pytest.fixture
async def http() -> AsyncIterator[HttpHandler]:
    handler = HttpHandler(secrets=Secrets(seeds=SECRETS), allowed_hosts=["127.0.0.1"])
    try:
        yield handler
    finally:
        await handler.close()


EngineFactory = Callable[[], Awaitable[Engine]]


@pytest.fixture
async def make_engine(
    store_backend: MemoryStorage | Storage, clock: ManualClock, http: HttpHandler
) -> AsyncIterator[EngineFactory]:
    """Engines on the same stores (a second one is a restarted process)."""
    made: list[Engine] = []

    async def make() -> Engine:
        engine = Engine.from_storage(
            store_backend, clock=clock, handlers={"call_http": http}, secret_seeds=SECRETS
        )
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in made:
            await engine.stop()


@pytest.fixture
async def engine(make_engine: EngineFactory) -> Engine:
    return await make_engine()


async def setup(engine: Engine, target: Target, text: str) -> None:
    """Apply a workflow whose http URLs say TARGET (the local service)."""
    await engine.apply_definition(TENANT, text.replace("TARGET", target.url))


def statuses(run: Any) -> dict[str, str]:
    """step id -> status of a RunState."""
    return {sid: step.status for sid, step in run.steps.items()}


async def finished(engine: Engine, run_id: str, *others: Engine, guard: float = 10.0) -> Any:
    """Wait (on the engines' change notifications, not by polling) until the run has finished
    in any of them; `guard` only stops a broken test from hanging."""
    done = asyncio.Event()

    async def listener(state: Any, events: Any) -> None:
        if state.run_id == run_id and state.finished_at is not None:
            done.set()

    engines = [engine, *others]
    for one in engines:
        one.subscribe(listener)
    try:
        if (await engine.get_run(TENANT, run_id)).finished_at is None:
            async with asyncio.timeout(guard):
                await done.wait()
        return await engine.get_run(TENANT, run_id)
    finally:
        for one in engines:
            one.unsubscribe(listener)
