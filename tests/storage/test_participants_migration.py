"""Migration 0015 fills run_participants from the runs already stored: after it, a person's
run list (`participant=`) finds the runs they took part in before it ran."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy.engine import Connection

from storage import Storage
from storage.migrate import alembic_config
from tests.storage.builders import T0, approve, new_run


async def _migrate(storage: Storage, revision: str, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        go = command.downgrade if down else command.upgrade
        go(alembic_config(connection), revision)

    async with storage.engine.begin() as conn:
        await conn.run_sync(run)


async def test_runs_stored_before_the_participants_table_are_listed_by_participant(
    storage: Storage,
) -> None:
    bob = "email:bob@example.com"
    await storage.runs.commit(
        [
            new_run("r1", "T1", approvers=(bob,)),
            new_run("r2", "T1", at=T0 + timedelta(minutes=1)),
            new_run("r3", "T1", at=T0 + timedelta(minutes=2), requester=bob),
        ]
    )
    await storage.runs.commit([approve(await storage.runs.load("T1", "r1"), bob)])
    await _migrate(storage, "0011", down=True)  # the table and its rows are gone
    await _migrate(storage, "head")
    listed = await storage.runs.list_runs("T1", participant=bob)
    assert [r.run_id for r in listed.runs] == ["r3", "r1"]
    assert (await storage.runs.list_runs("T2", participant=bob)).runs == []
