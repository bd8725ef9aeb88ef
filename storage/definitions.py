"""Versioned workflow definitions: (tenant, name, version) rows and a `workflows` row per name."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, and_, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.definitions.models import Schedule, WorkflowDefinition
from engine.errors import ConcurrencyConflict, NotFound
from engine.ports import AppliedDefinition, ScheduledDefinition, StoredDefinition
from storage.database import READONLY
from storage.schema import definitions, workflows

# Concurrent applies of one name race for the next version number; the loser tries again.
APPLY_ATTEMPTS = 5


_SEPARATORS = (",", ":")
# Text every canonical JSON with a schedule holds (its top-level `"schedule":{`): a cheap filter
# before the JSON one, so only those rows are parsed.
_HAS_SCHEDULE = f"%{json.dumps({'schedule': {}}, separators=_SEPARATORS)[1:-2]}%"


def canonical_json(definition: WorkflowDefinition) -> str:
    """The validated model as JSON with sorted keys: equal models give equal text."""
    data = definition.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False)


_COLUMNS = (
    definitions.c.tenant_id,
    definitions.c.name,
    definitions.c.version,
    definitions.c.canonical,
    definitions.c.source,
    definitions.c.created_at,
    workflows.c.disabled,
)
_JOINED = definitions.join(
    workflows,
    and_(workflows.c.tenant_id == definitions.c.tenant_id, workflows.c.name == definitions.c.name),
)


def _stored(row: Any) -> StoredDefinition:
    return StoredDefinition(
        tenant_id=row.tenant_id,
        name=row.name,
        version=row.version,
        definition=WorkflowDefinition.model_validate_json(row.canonical),
        source=row.source,
        created_at=row.created_at,
        disabled=row.disabled,
    )


def _schedule_json(dialect_name: str) -> Any:
    """The `schedule` member of the canonical JSON as JSON text, NULL when it is null: the
    database picks the scheduled versions without the rest of the definition being parsed."""
    if dialect_name == "postgresql":
        return cast(definitions.c.canonical, JSON)["schedule"].as_string()
    return func.json_extract(definitions.c.canonical, "$.schedule")


class SqlDefinitionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def apply(
        self, tenant_id: str, definition: WorkflowDefinition, source: str, now: datetime
    ) -> AppliedDefinition:
        canonical = canonical_json(definition)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        for _ in range(APPLY_ATTEMPTS):
            try:
                return await self._apply_once(
                    tenant_id, definition.name, canonical, digest, source, now
                )
            except IntegrityError:
                continue  # someone else took this version number (or created the workflow)
        raise ConcurrencyConflict(f"workflow {definition.name!r} is being changed concurrently")

    async def _apply_once(
        self, tenant_id: str, name: str, canonical: str, digest: str, source: str, now: datetime
    ) -> AppliedDefinition:
        async with self._engine.begin() as conn:
            latest = (
                await conn.execute(
                    select(definitions.c.version, definitions.c.hash)
                    .select_from(_JOINED)
                    .where(
                        workflows.c.tenant_id == tenant_id,
                        workflows.c.name == name,
                        definitions.c.version == workflows.c.latest_version,
                    )
                )
            ).first()
            if latest is not None and latest.hash == digest:
                return AppliedDefinition(name, latest.version, created=False)
            version = 1 if latest is None else latest.version + 1
            await conn.execute(
                definitions.insert().values(
                    tenant_id=tenant_id,
                    name=name,
                    version=version,
                    canonical=canonical,
                    hash=digest,
                    source=source,
                    created_at=now,
                )
            )
            if latest is None:
                await conn.execute(
                    workflows.insert().values(
                        tenant_id=tenant_id, name=name, latest_version=version, disabled=False
                    )
                )
            else:
                await conn.execute(
                    update(workflows)
                    .where(workflows.c.tenant_id == tenant_id, workflows.c.name == name)
                    .values(latest_version=version, disabled=False)
                )
        return AppliedDefinition(name, version, created=True)

    async def get(self, tenant_id: str, name: str, version: int | None = None) -> StoredDefinition:
        query = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(
                definitions.c.tenant_id == tenant_id,
                definitions.c.name == name,
                definitions.c.version
                == (workflows.c.latest_version if version is None else version),
            )
        )
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is not None:
            return _stored(row)
        if version is None:
            raise NotFound(f"no workflow named {name!r} in this workspace")
        await self._require(tenant_id, name)
        raise NotFound(f"workflow {name!r} has no version {version}")

    async def latest(self, tenant_id: str) -> list[StoredDefinition]:
        query = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(
                workflows.c.tenant_id == tenant_id,
                definitions.c.version == workflows.c.latest_version,
            )
            .order_by(workflows.c.name)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_stored(row) for row in rows]

    async def versions(self, tenant_id: str, name: str) -> list[StoredDefinition]:
        query = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(definitions.c.tenant_id == tenant_id, definitions.c.name == name)
            .order_by(definitions.c.version)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            raise NotFound(f"no workflow named {name!r} in this workspace")
        return [_stored(row) for row in rows]

    async def set_disabled(self, tenant_id: str, name: str, disabled: bool) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(workflows)
                .where(workflows.c.tenant_id == tenant_id, workflows.c.name == name)
                .values(disabled=disabled)
            )
        if result.rowcount == 0:
            raise NotFound(f"no workflow named {name!r} in this workspace")

    async def scheduled(self) -> list[ScheduledDefinition]:
        schedule = _schedule_json(self._engine.dialect.name).label("schedule")
        query = (
            select(
                definitions.c.tenant_id,
                definitions.c.name,
                definitions.c.version,
                definitions.c.created_at,
                workflows.c.disabled,
                schedule,
            )
            .select_from(_JOINED)
            .where(
                definitions.c.version == workflows.c.latest_version,
                definitions.c.canonical.like(_HAS_SCHEDULE),
                schedule.is_not(None),
            )
            .order_by(workflows.c.tenant_id, workflows.c.name)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ScheduledDefinition(
                tenant_id=row.tenant_id,
                name=row.name,
                version=row.version,
                schedule=Schedule.model_validate_json(row.schedule),
                created_at=row.created_at,
                disabled=row.disabled,
            )
            for row in rows
        ]

    async def _require(self, tenant_id: str, name: str) -> None:
        query = select(func.count()).where(
            workflows.c.tenant_id == tenant_id, workflows.c.name == name
        )
        async with self._reader.connect() as conn:
            if not (await conn.execute(query)).scalar_one():
                raise NotFound(f"no workflow named {name!r} in this workspace")
