"""A database from before the audit chain: the migration chains the events already stored,
marks their runs as chained by the migration, and new events chain on from there."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.engine import Connection

from cli.audit_log import build_bundle
from engine.audit.bundle import verify_bundle
from storage import Storage
from storage.migrate import alembic_config
from storage.schema import events, runs
from tests.storage.builders import T0, approve, new_run


async def _migrate(storage: Storage, revision: str, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        go = command.downgrade if down else command.upgrade
        go(alembic_config(connection), revision)

    async with storage.engine.begin() as conn:
        await conn.run_sync(run)


async def test_events_stored_before_the_chain_are_chained_by_the_migration(
    storage: Storage,
) -> None:
    await storage.runs.commit([new_run("r1", "T1"), new_run("r2", "T1", at=T0 + timedelta(1))])
    await _migrate(storage, "0009", down=True)  # the columns and their hashes are gone
    await _migrate(storage, "head")
    async with storage.engine.connect() as conn:
        marked = dict(
            (await conn.execute(select(runs.c.run_id, runs.c.chained_from_backfill))).all()
        )
        hashes = (await conn.execute(select(events.c.hash))).scalars().all()
    assert marked == {"r1": 2, "r2": 2}
    assert all(hashes)
    fresh = Storage(storage.engine)  # no head remembered from before: read from the rows
    await fresh.runs.commit([approve(await fresh.runs.load("T1", "r1"))])
    other = Storage(storage.engine)  # nor here: the commit reads the head it chains to
    state = await storage.runs.load("T1", "r2")
    await other.runs.commit([approve(state)])
    key = Ed25519PrivateKey.generate()
    report = verify_bundle(await build_bundle(fresh, "T1", key))
    assert [(r.run_id, r.chain) for r in report.runs] == [("r1", []), ("r2", [])]
    assert report.runs[0].notes[0] == "seq 1-2 chained by the audit migration, not when written"
    async with storage.engine.connect() as conn:
        seqs = (await conn.execute(select(events.c.seq).where(events.c.run_id == "r1"))).all()
    assert len(seqs) == 4
