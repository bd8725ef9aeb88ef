"""Opening databases, migrations and the column types shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError

from storage import Storage, open_storage
from storage.migrate import full_metadata
from storage.schema import timers
from tests.storage.builders import new_run


def _schema_diffs(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, full_metadata()))


async def test_migrations_create_exactly_the_tables_the_code_uses(database_url: str) -> None:
    storage = await open_storage(database_url)
    try:
        assert not await storage.is_current()
        await storage.upgrade()
        assert await storage.is_current()
        await storage.upgrade()  # nothing left to do
        async with storage.engine.connect() as conn:
            assert await conn.run_sync(_schema_diffs) == []
    finally:
        await storage.close()


async def test_create_makes_a_fresh_sqlite_file_ready(tmp_path: Path) -> None:
    path = tmp_path / "data" / "new.db"
    storage = await open_storage(f"sqlite+aiosqlite:///{path}", create=True)
    try:
        assert path.exists()
        assert await storage.is_current()
        await storage.runs.commit([new_run()])
    finally:
        await storage.close()


async def test_sqlite_connections_use_wal_and_wait_for_the_writer(tmp_path: Path) -> None:
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with storage.engine.connect() as conn:
            pragma = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await storage.close()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 10000,
    }


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql+aiomysql://u@h/db", "not supported"),
        ("sqlite:///x.db", "not supported"),
        ("postgresql://u@h/db", "not supported"),
        ("sqlite+aiosqlite://", "in-memory"),
        ("sqlite+aiosqlite:///:memory:", "in-memory"),
    ],
)
async def test_unsupported_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        await open_storage(url)


async def test_datetimes_come_back_as_aware_utc(storage: Storage) -> None:
    plus_two = timezone(timedelta(hours=2))
    change = new_run(at=datetime(2026, 3, 2, 11, 0, tzinfo=plus_two), approvers=("U_A",))
    await storage.runs.commit([change])
    async with storage.engine.connect() as conn:
        due_at = (await conn.execute(select(timers.c.due_at))).scalar_one()
    assert due_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert due_at.tzinfo is UTC
    (task,) = await storage.runs.pending_tasks("T1")
    assert task.since.tzinfo is UTC and task.since == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_naive_datetimes_are_refused(storage: Storage) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await storage.outbox.claim(datetime(2026, 1, 1), 1, timedelta(seconds=1))


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_reads_on_postgresql_run_without_a_transaction_around_them(storage: Storage) -> None:
    """A read costs one round trip, not three (BEGIN, the SELECT, COMMIT): each statement of a
    reader is a transaction of its own, so two of them see two different transaction times;
    the writers keep theirs."""
    from sqlalchemy import text

    from storage.database import READONLY

    both = text("SELECT now(), pg_sleep(0.01)::text")
    async with storage.engine.execution_options(**READONLY).connect() as conn:
        first = (await conn.execute(both)).scalar_one()
        second = (await conn.execute(both)).scalar_one()
    assert first < second
    async with storage.engine.begin() as conn:
        first = (await conn.execute(both)).scalar_one()
        second = (await conn.execute(both)).scalar_one()
    assert first == second
