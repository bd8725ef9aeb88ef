"""In-memory implementations of the access ports (`engine.access`), for tests. Same contracts as
`storage.access`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

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


class MemoryApiKeyStore:
    def __init__(self) -> None:
        self._by_hash: dict[str, ApiKey] = {}

    async def create_key(self, tenant_id: str, name: str, now: datetime) -> NewApiKey:
        if not name.strip():
            raise InvalidInput({"name": "give the key a name saying what it is for"})
        key_id, secret = new_api_key_secret()
        key = ApiKey(id=key_id, tenant_id=tenant_id, name=name.strip(), created_at=now)
        self._by_hash[hash_secret(secret)] = key
        return NewApiKey(key=key, secret=secret)

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        keys = [k for k in self._by_hash.values() if k.tenant_id == tenant_id]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    async def revoke_key(self, tenant_id: str, key_id: str, now: datetime) -> ApiKey:
        for digest, key in self._by_hash.items():
            if key.tenant_id == tenant_id and key.id == key_id:
                if key.revoked_at is None:
                    key = replace(key, revoked_at=now)
                    self._by_hash[digest] = key
                return key
        raise NotFound(f"no API key {key_id!r} in this workspace")

    async def authenticate(self, secret: str, now: datetime) -> ApiKey | None:
        digest = hash_secret(secret)
        key = self._by_hash.get(digest)
        if key is None or not key.active:
            return None
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            key = replace(key, last_used_at=now)
            self._by_hash[digest] = key
        return key


class MemoryNonceStore:
    def __init__(self) -> None:
        self._used: dict[tuple[str, str], datetime] = {}

    async def use(self, tenant_id: str, nonce: str, expires_at: datetime, now: datetime) -> bool:
        self._used = {k: exp for k, exp in self._used.items() if exp > now}
        if (tenant_id, nonce) in self._used:
            return False
        self._used[(tenant_id, nonce)] = expires_at
        return True

    async def release(self, tenant_id: str, nonce: str) -> None:
        self._used.pop((tenant_id, nonce), None)

    async def is_used(self, tenant_id: str, nonce: str) -> bool:
        return (tenant_id, nonce) in self._used


class MemorySessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, WebSession] = {}

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
        self._sessions[hash_secret(token)] = session
        return NewSession(session=session, token=token)

    async def get_session(self, token: str, now: datetime) -> WebSession | None:
        session = self._sessions.get(hash_secret(token))
        if session is None or session.expires_at <= now:
            return None
        return session

    async def end_session(self, token: str) -> None:
        self._sessions.pop(hash_secret(token), None)


def memory_access_stores() -> AccessStores:
    return AccessStores(
        api_keys=MemoryApiKeyStore(), nonces=MemoryNonceStore(), sessions=MemorySessionStore()
    )
