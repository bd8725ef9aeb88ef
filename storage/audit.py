"""Reading the audit chain and keeping signed checkpoints (engine.audit holds the pure logic)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.audit.chain import ChainedEvent
from engine.audit.checkpoint import Checkpoint
from engine.audit.merkle import Leaf
from engine.events import FINAL_STATUSES
from storage.database import READONLY
from storage.schema import (
    checkpoints,
    definitions,
    events,
    outbox,
    pending_tasks,
    run_participants,
    runs,
    steps,
    timers,
)


@dataclass(frozen=True)
class RunHead:
    run_id: str
    workflow: str
    version: int
    started_at: datetime
    seq: int
    head_hash: str | None
    backfilled: int | None  # events up to this seq were chained by the migration


_HEAD = (
    runs.c.run_id,
    runs.c.workflow,
    runs.c.version,
    runs.c.started_at,
    runs.c.seq,
    runs.c.head_hash,
    runs.c.chained_from_backfill,
)


class SqlAuditStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def run_heads(
        self,
        tenant_id: str,
        run_ids: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[RunHead]:
        """The heads in run id order; `after` and `limit` read them a page at a time."""
        query = select(*_HEAD).where(runs.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(runs.c.run_id > after)
        if limit is not None:
            query = query.limit(limit)
        if run_ids is not None:
            query = query.where(runs.c.run_id.in_(run_ids))
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        if until is not None:
            query = query.where(runs.c.started_at < until)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query.order_by(runs.c.run_id))).all()
        return [RunHead(*row) for row in rows]

    async def finished_before(self, tenant_id: str, cutoff: datetime) -> list[RunHead]:
        """The tenant's runs that finished before `cutoff` and have nothing left to send (an
        open outbox command keeps its run: the command still reads it)."""
        still_sending = exists().where(
            outbox.c.tenant_id == runs.c.tenant_id,
            outbox.c.run_id == runs.c.run_id,
            outbox.c.done_at.is_(None),
            outbox.c.dead_at.is_(None),
        )
        query = select(*_HEAD).where(
            runs.c.tenant_id == tenant_id,
            runs.c.status.in_(sorted(FINAL_STATUSES)),
            runs.c.finished_at < cutoff,
            ~still_sending,
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query.order_by(runs.c.run_id))).all()
        return [RunHead(*row) for row in rows]

    async def purge(self, tenant_id: str, heads: list[RunHead]) -> list[str]:
        """Delete these runs with everything kept for them, in one transaction: each only if its
        head is still the one given (a run that moved since is left). Returns the ids deleted."""
        if not heads:
            return []
        wanted = [(h.run_id, h.seq, h.head_hash) for h in heads]
        async with self._engine.begin() as conn:
            found = await conn.execute(
                select(runs.c.run_id).where(
                    runs.c.tenant_id == tenant_id,
                    tuple_(runs.c.run_id, runs.c.seq, runs.c.head_hash).in_(wanted),
                )
            )
            ids = sorted(r.run_id for r in found)
            for table in (events, steps, pending_tasks, timers, outbox, run_participants, runs):
                await conn.execute(
                    delete(table).where(table.c.tenant_id == tenant_id, table.c.run_id.in_(ids))
                )
        return ids

    async def chains(self, tenant_id: str, run_ids: list[str]) -> dict[str, list[ChainedEvent]]:
        """Each run's stored events with their hashes, in seq order."""
        out: dict[str, list[ChainedEvent]] = {run: [] for run in run_ids}
        if not run_ids:
            return out
        query = (
            select(events.c.run_id, events.c.seq, events.c.data, events.c.prev_hash, events.c.hash)
            .where(events.c.tenant_id == tenant_id, events.c.run_id.in_(run_ids))
            .order_by(events.c.run_id, events.c.seq)
        )
        async with self._reader.connect() as conn:
            for row in await conn.execute(query):
                out[row.run_id].append(
                    ChainedEvent(row.seq, json.loads(row.data), row.prev_hash, row.hash)
                )
        return out

    async def definition_versions(self, tenant_id: str) -> list[dict[str, Any]]:
        query = (
            select(definitions.c.name, definitions.c.version, definitions.c.hash)
            .add_columns(definitions.c.canonical)
            .where(definitions.c.tenant_id == tenant_id)
            .order_by(definitions.c.name, definitions.c.version)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {"name": r.name, "version": r.version, "hash": r.hash, "canonical": r.canonical}
            for r in rows
        ]

    async def leaves(self, tenant_id: str) -> list[Leaf]:
        """What a checkpoint of the tenant covers now: every run head and definition version."""
        out: list[Leaf] = [
            ("run", h.run_id, h.started_at.isoformat(), h.seq, h.head_hash)
            for h in await self.run_heads(tenant_id)
            if h.head_hash is not None
        ]
        out.extend(
            ("definition", d["name"], d["version"], d["hash"])
            for d in await self.definition_versions(tenant_id)
        )
        return out

    async def hashes_at(self, tenant_id: str, at: list[tuple[str, int]]) -> dict[Any, str]:
        """The hash stored for each (run_id, seq) of `at` (missing ones left out)."""
        if not at:
            return {}
        query = select(events.c.run_id, events.c.seq, events.c.hash).where(
            events.c.tenant_id == tenant_id, tuple_(events.c.run_id, events.c.seq).in_(at)
        )
        async with self._reader.connect() as conn:
            return {(r.run_id, r.seq): r.hash for r in await conn.execute(query)}

    async def latest_checkpoint(self, tenant_id: str) -> Checkpoint | None:
        found = await self.checkpoints(tenant_id, latest=True)
        return found[0] if found else None

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                checkpoints.insert().values(
                    tenant_id=checkpoint.tenant_id,
                    at=checkpoint.at,
                    root=checkpoint.root,
                    leaves=json.dumps([list(leaf) for leaf in checkpoint.leaves]),
                    signature=checkpoint.signature,
                    key_id=checkpoint.key_id,
                )
            )

    async def checkpoints(
        self, tenant_id: str, latest: bool = False, since: datetime | None = None
    ) -> list[Checkpoint]:
        query = select(checkpoints).where(checkpoints.c.tenant_id == tenant_id)
        if since is not None:
            query = query.where(checkpoints.c.at >= since)
        if latest:
            query = query.order_by(checkpoints.c.at.desc(), checkpoints.c.id.desc()).limit(1)
        else:
            query = query.order_by(checkpoints.c.at, checkpoints.c.id)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Checkpoint(
                r.tenant_id,
                r.at,
                tuple(tuple(leaf) for leaf in json.loads(r.leaves)),
                r.root,
                r.signature,
                r.key_id,
            )
            for r in rows
        ]

    async def tenants(self) -> list[str]:
        async with self._reader.connect() as conn:
            rows = await conn.execute(select(runs.c.tenant_id).distinct())
            return [r[0] for r in rows]
