"""The database going away, for this process's connections only (a proxy in front of the shared
PostgreSQL): the pool is renewed after the server ends its sessions, and the web answers 503
with Retry-After while the database cannot be reached, then serves again by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from engine.runtime.service import Engine
from engine.testing import ManualClock
from storage import Storage, open_storage
from storage.access import sql_access_stores
from storage.database import is_unavailable
from tests.conftest import empty_database
from tests.fault.proxy import PostgresProxy
from web.config import WebConfig
from web.service import WebService, start_web

pytestmark = pytest.mark.postgres

TENANT = "T0LOST"
POOLED = 3  # connections in the pool when the server ends the sessions


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[PostgresProxy, Storage]]:
    """Storage on a fresh schema of the shared PostgreSQL, reached through a proxy."""
    async with empty_database("postgres", tmp_path) as url:
        direct = make_url(url)
        proxy = PostgresProxy(direct.host or "127.0.0.1", direct.port or 5432)
        await proxy.open()
        via_proxy = direct.set(port=proxy.listen_port).render_as_string(hide_password=False)
        storage = await open_storage(via_proxy, create=True, pool_size=POOLED)
        try:
            yield proxy, storage
        finally:
            await storage.close()
            await proxy.close()


async def fill_pool(storage: Storage) -> None:
    """Leave POOLED idle connections in the pool (each opened by a reader at the same time)."""
    held = asyncio.Barrier(POOLED)

    async def read() -> None:
        async with storage.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await held.wait()

    await asyncio.gather(*(read() for _ in range(POOLED)))


async def test_after_the_server_ends_every_session_one_read_fails_as_unavailable(
    proxied: tuple[PostgresProxy, Storage],
) -> None:
    proxy, storage = proxied
    await fill_pool(storage)
    assert await proxy.end_sessions() == POOLED

    failures: list[Exception] = []
    for _ in range(POOLED + 1):
        try:
            await storage.runs.list_runs(TENANT)
        except Exception as exc:
            failures.append(exc)
    # The first failure renews the whole pool: the other sessions ended too, and are not each
    # tried (and failed) in turn. It is told apart from a bug: "unavailable", worth a retry.
    assert len(failures) == 1, [f"{type(f).__name__}: {f}" for f in failures]
    assert isinstance(failures[0], DBAPIError) and failures[0].connection_invalidated
    assert is_unavailable(failures[0])


@pytest.fixture
async def web(proxied: tuple[PostgresProxy, Storage], clock: ManualClock) -> AsyncIterator[str]:
    _, storage = proxied
    engine = Engine.from_storage(storage, clock=clock)
    access = sql_access_stores(storage.engine)
    service: WebService = await start_web(
        engine,
        engine.router,
        WebConfig(secret_key="lost-sessions-secret-0123456789abcdef", port=0),
        access,
        readiness=storage,
        outage=is_unavailable,
    )
    try:
        yield service.url
    finally:
        await service.stop()


async def test_while_the_database_is_unreachable_the_web_answers_503_then_recovers(
    proxied: tuple[PostgresProxy, Storage], web: str, clock: ManualClock
) -> None:
    proxy, storage = proxied
    key = await sql_access_stores(storage.engine).api_keys.create_key(TENANT, "t", clock.now())
    auth = {"Authorization": f"Bearer {key.secret}"}
    async with aiohttp.ClientSession(base_url=web) as http:
        async with http.get("/api/v1/runs", headers=auth) as r:
            assert r.status == 200

        await proxy.close()  # connections refused, open sessions cut
        async with http.get("/api/v1/runs", headers=auth) as r:
            assert r.status == 503
            assert r.headers["Retry-After"] == "5"
            assert (await r.json())["error"]["code"] == "unavailable"
        async with http.get("/runs", cookies={"cs_session": "some-session"}) as r:
            assert r.status == 503
            assert r.headers["Retry-After"] == "5"
            assert "Try again shortly" in await r.text()
        async with http.get("/readyz") as r:
            assert (r.status, r.headers.get("Retry-After")) == (503, "5")

        await proxy.open()  # back, on the same port: the process needs nothing to recover
        async with http.get("/api/v1/runs", headers=auth) as r:
            assert r.status == 200
        async with http.get("/readyz") as r:
            assert r.status == 200
