"""SQLAlchemy implementations of the access ports (`engine.access`): API keys, single-use link
nonces and web sessions, plus the cheap cross-tenant counts /metrics reads. Secrets are stored
as SHA-256 hashes only. The tables live in the shared `metadata` (migration 0002)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.access import (
    LAST_USED_RESOLUTION,
    AccessStores,
    ApiKey,
    NewApiKey,
    NewSession,
    WebSession,
    hash_secret,
    new_api_key_secret,
    new_token,
)
from engine.errors import InvalidInput, NotFound
from storage.database import READONLY
from storage.schema import Tenant, UTCDateTime, metadata, pending_tasks, runs

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), nullable=False),
    Column("tenant_id", Tenant, nullable=False),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    PrimaryKeyConstraint("id"),
    Index(None, "tenant_id", "created_at"),
)

used_nonces = Table(
    "used_nonces",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "nonce"),
    Index(None, "expires_at"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), nullable=False),
    Column("tenant_id", Tenant, nullable=False),
    Column("principal", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    PrimaryKeyConstraint("token_hash"),
    Index(None, "expires_at"),
)


# Seconds a key found active is trusted without reading it again. Every API call checks its key,
# and that read was a tenth of a decision's server time. A key revoked in this process stops
# working at once; one revoked elsewhere (`countersign apikeys revoke`, another replica) within
# this many seconds.
KEY_TRUST_SECONDS = 2.0
KEYS_KEPT = 10_000  # a bound on the keys trusted at a time (a burst of many keys)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class SqlApiKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)
        # secret hash -> (monotonic time it was read, the active key): see KEY_TRUST_SECONDS.
        self._trusted: dict[str, tuple[float, ApiKey]] = {}
        self._revocations = 0  # a read begun before a revocation here is not trusted after it

    async def create_key(self, tenant_id: str, name: str, now: datetime) -> NewApiKey:
        if not name.strip():
            raise InvalidInput({"name": "give the key a name saying what it is for"})
        key_id, secret = new_api_key_secret()
        key = ApiKey(id=key_id, tenant_id=tenant_id, name=name.strip()[:200], created_at=now)
        async with self._engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    tenant_id=tenant_id,
                    name=key.name,
                    secret_hash=hash_secret(secret),
                    created_at=now,
                )
            )
        return NewApiKey(key=key, secret=secret)

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        k = api_keys.c
        query = select(api_keys).where(k.tenant_id == tenant_id).order_by(k.created_at, k.id)
        async with self._reader.begin() as conn:
            return [_key(row) for row in await conn.execute(query)]

    async def revoke_key(self, tenant_id: str, key_id: str, now: datetime) -> ApiKey:
        k = api_keys.c
        mine = (k.tenant_id == tenant_id) & (k.id == key_id)
        self._distrust(key_id)
        self._revocations += 1
        async with self._engine.begin() as conn:
            await conn.execute(
                update(api_keys).where(mine, k.revoked_at.is_(None)).values(revoked_at=now)
            )
            row = (await conn.execute(select(api_keys).where(mine))).first()
        if row is None:
            raise NotFound(f"no API key {key_id!r} in this workspace")
        return _key(row)

    async def authenticate(self, secret: str, now: datetime) -> ApiKey | None:
        k = api_keys.c
        digest = hash_secret(secret)
        trusted = self._trusted.get(digest)
        if trusted is not None and time.monotonic() - trusted[0] < KEY_TRUST_SECONDS:
            key = trusted[1]
        else:
            revocations = self._revocations
            query = select(api_keys).where(k.secret_hash == digest)
            async with self._reader.begin() as conn:
                row = (await conn.execute(query)).first()
            if row is None or row.revoked_at is not None:
                self._trusted.pop(digest, None)
                return None
            key = _key(row)
            if len(self._trusted) >= KEYS_KEPT:
                self._trusted.clear()
            if revocations == self._revocations:
                self._trusted[digest] = (time.monotonic(), key)
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            async with self._engine.begin() as conn:
                await conn.execute(update(api_keys).where(k.id == key.id).values(last_used_at=now))
            key = replace(key, last_used_at=now)
            if digest in self._trusted:
                self._trusted[digest] = (self._trusted[digest][0], key)
        return key

    def _distrust(self, key_id: str) -> None:
        """Forget the key (before it is revoked: no call after the revocation trusts it)."""
        for digest in [d for d, (_, key) in self._trusted.items() if key.id == key_id]:
            del self._trusted[digest]


class SqlNonceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def use(self, tenant_id: str, nonce: str, expires_at: datetime, now: datetime) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(delete(used_nonces).where(used_nonces.c.expires_at <= now))
                await conn.execute(
                    used_nonces.insert().values(
                        tenant_id=tenant_id, nonce=nonce, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False  # the primary key says someone used it first
        return True

    async def release(self, tenant_id: str, nonce: str) -> None:
        n = used_nonces.c
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(used_nonces).where(n.tenant_id == tenant_id, n.nonce == nonce)
            )

    async def is_used(self, tenant_id: str, nonce: str) -> bool:
        n = used_nonces.c
        query = select(n.nonce).where(n.tenant_id == tenant_id, n.nonce == nonce)
        async with self._reader.begin() as conn:
            return (await conn.execute(query)).first() is not None


class SqlSessionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)

    async def create_session(
        self, tenant_id: str, principal: str, now: datetime, expires_at: datetime
    ) -> NewSession:
        token = new_token()
        session = WebSession(
            tenant_id=tenant_id,
            principal=principal,
            created_at=now,
            expires_at=expires_at,
            csrf_token=new_token(),
        )
        async with self._engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            await conn.execute(
                web_sessions.insert().values(
                    token_hash=hash_secret(token),
                    tenant_id=tenant_id,
                    principal=principal,
                    created_at=now,
                    expires_at=expires_at,
                    csrf_token=session.csrf_token,
                )
            )
        return NewSession(session=session, token=token)

    async def get_session(self, token: str, now: datetime) -> WebSession | None:
        s = web_sessions.c
        query = select(web_sessions).where(s.token_hash == hash_secret(token), s.expires_at > now)
        async with self._reader.begin() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return WebSession(
            tenant_id=row.tenant_id,
            principal=row.principal,
            created_at=row.created_at,
            expires_at=row.expires_at,
            csrf_token=row.csrf_token,
        )

    async def end_session(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(web_sessions).where(web_sessions.c.token_hash == hash_secret(token))
            )


class SqlMetrics:
    """Aggregates over all tenants for /metrics: two GROUP BY/COUNT queries on indexed tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._reader = engine.execution_options(**READONLY)

    async def runs_by_status(self) -> dict[str, int]:
        query = select(runs.c.status, func.count()).group_by(runs.c.status)
        async with self._reader.begin() as conn:
            return {status: int(n) for status, n in await conn.execute(query)}

    async def pending_task_count(self) -> int:
        async with self._reader.begin() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(pending_tasks))).scalar_one()
            )


def sql_access_stores(engine: AsyncEngine) -> AccessStores:
    return AccessStores(
        api_keys=SqlApiKeyStore(engine),
        nonces=SqlNonceStore(engine),
        sessions=SqlSessionStore(engine),
    )
