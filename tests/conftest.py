"""Shared fixtures.

- `database_url`: an empty database per test, parametrised "sqlite" (a file in tmp_path) and
  "postgres" (a fresh schema in the `test` database, selected with `?search_path=`, dropped after).
- `storage`: a `storage.Storage` on `database_url`, migrated to head, closed after the test.
- `store_backend`: the four stores (`definitions`, `runs`, `outbox`, `timers`), parametrised
  "memory", "sqlite" and "postgres", for contract tests every backend must pass.
- `clock`: an `engine.testing.ManualClock`.

PostgreSQL cases carry the `postgres` marker (`-m "not postgres"` leaves them out). When the server
does not answer they are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from engine.testing import ManualClock, MemoryStorage
from storage import Storage, open_storage

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET_KEY = "test-secret-key-" + "k" * 16  # encrypts the secrets tests store
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ALL_BACKENDS = ["memory", *SQL_BACKENDS]

_postgres_answers: bool | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server at TEST_POSTGRES_URL")


def _asyncpg_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _postgres_connection() -> asyncpg.Connection:
    """A connection for test setup; skips (or fails under CI=true) when PostgreSQL is down."""
    global _postgres_answers
    if _postgres_answers is not False:
        try:
            conn = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _postgres_answers = False
            reason = f"PostgreSQL at {POSTGRES_URL} does not answer: {exc}"
        else:
            _postgres_answers = True
            return conn
    else:
        reason = f"PostgreSQL at {POSTGRES_URL} does not answer"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@asynccontextmanager
async def empty_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of `kind` ("sqlite" or "postgres") for one test."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'countersign.db'}"
        return
    schema = f"test_{uuid.uuid4().hex[:20]}"
    admin = await _postgres_connection()
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{POSTGRES_URL}?search_path={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture(params=SQL_BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    opened = await open_storage(database_url, create=True, secret_key=lambda: TEST_SECRET_KEY)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=ALL_BACKENDS)
async def store_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MemoryStorage | Storage]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    async with empty_database(request.param, tmp_path) as url:
        opened = await open_storage(url, create=True, secret_key=lambda: TEST_SECRET_KEY)
        try:
            yield opened
        finally:
            await opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
