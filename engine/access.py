"""Ports for the ways into Countersign from outside Slack: API keys, single-use links and web
sessions. `storage.access` implements them on SQLAlchemy, `engine.testing` in memory
for tests.

Secrets (API keys, session tokens) are never stored: only their SHA-256, so a database dump does
not let anyone in. The secrets are 256-bit random values, so an unsalted hash is enough.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

API_KEY_PREFIX = "cs_"

# `ApiKey.last_used_at` is written when it is at least this old, so most requests only read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """The stored form of a bearer secret (API key or session token). Header bytes that are not
    UTF-8 arrive as surrogates: they hash too (to nothing stored) instead of raising."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def new_api_key_secret() -> tuple[str, str]:
    """(key id, secret) for a new API key. The id is public (lists, logs); the secret embeds it
    so a leaked key can be traced to its row, and carries 256 random bits."""
    key_id = "key_" + secrets.token_hex(6)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def new_token() -> str:
    """A random bearer token (session ids, nonces)."""
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- API keys


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: `secret` is shown once and never again."""

    key: ApiKey
    secret: str


class ApiKeyStore(Protocol):
    async def create_key(self, tenant_id: str, name: str, now: datetime) -> NewApiKey:
        """Create a key for the tenant; store only the hash of its secret. `name` says what the
        key is for (shown in lists). Raises `InvalidInput` for an empty name."""
        ...

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys, revoked ones included, oldest first. Never the secrets."""
        ...

    async def revoke_key(self, tenant_id: str, key_id: str, now: datetime) -> ApiKey:
        """Revoke a key: it stops working at once in this process (a store may trust a key it
        read for a few seconds, so in other processes it stops within those: 2 s for the SQL
        store). Revoking twice keeps the first date.
        Raises `NotFound` for an unknown key or another tenant's key."""
        ...

    async def authenticate(self, secret: str, now: datetime) -> ApiKey | None:
        """The active key whose secret this is (compared by hash), or None. Records
        `last_used_at` (at most about once a minute, to keep reads cheap)."""
        ...


# ---------------------------------------------------------------- single-use links


class NonceStore(Protocol):
    async def use(self, tenant_id: str, nonce: str, expires_at: datetime, now: datetime) -> bool:
        """Mark the nonce of a single-use link as used. True the first time, False if it was
        used already. Atomic: of two concurrent calls with the same nonce exactly one gets True.
        The record may be forgotten after `expires_at` (the link is refused as expired by then).
        """
        ...

    async def release(self, tenant_id: str, nonce: str) -> None:
        """Make a nonce usable again: the action it was used for was refused before it changed
        anything (e.g. a required comment was missing), so the link must keep working."""
        ...

    async def is_used(self, tenant_id: str, nonce: str) -> bool:
        """Whether the nonce was used (for showing a used link's page on GET, changing nothing)."""
        ...


# ---------------------------------------------------------------- web sessions


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser, scoped to one tenant and one principal."""

    tenant_id: str
    principal: str  # Slack user id or "email:addr"
    created_at: datetime
    expires_at: datetime
    csrf_token: str  # forms of this session must echo it


@dataclass(frozen=True)
class NewSession:
    session: WebSession
    token: str  # the cookie value; only its hash is stored


class SessionStore(Protocol):
    async def create_session(
        self, tenant_id: str, principal: str, now: datetime, expires_at: datetime
    ) -> NewSession:
        """Start a session; store only the token's hash."""
        ...

    async def get_session(self, token: str, now: datetime) -> WebSession | None:
        """The live session for this cookie value, or None (unknown, ended or expired)."""
        ...

    async def end_session(self, token: str) -> None:
        """Sign out: the token stops working. Unknown tokens are ignored."""
        ...


@dataclass(frozen=True)
class AccessStores:
    """The three access stores, handed together to the web adapter."""

    api_keys: ApiKeyStore
    nonces: NonceStore
    sessions: SessionStore
