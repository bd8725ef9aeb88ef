"""Each tenant's secrets (`engine.ports.SecretStore`), encrypted at rest; table `tenant_secrets`
(migration 0007), in the shared `metadata`.

The key is derived from SECRET_KEY with HKDF-SHA256; each value is sealed with AES-256-GCM under
a fresh nonce, with the tenant and the name as associated data: a row copied to another tenant or
renamed fails to decrypt (`SecretUnreadable`) instead of handing its value to someone else. A
database dump without SECRET_KEY gives nothing away.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, LargeBinary, PrimaryKeyConstraint, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.errors import EngineError, SecretUnreadable
from engine.ports import SecretInfo
from storage.database import READONLY
from storage.dialect import insert_for
from storage.schema import Tenant, UTCDateTime, metadata

tenant_secrets = Table(
    "tenant_secrets",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("name", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # version byte, 12-byte nonce, ciphertext+tag
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "name"),
)

_VERSION = b"\x01"  # of the sealing scheme, so the key or cipher can change later
_INFO = b"countersign tenant secrets v1"


class SecretBox:
    """AES-256-GCM with a key derived from SECRET_KEY; (tenant, name) are authenticated."""

    def __init__(self, secret_key: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
        self._aead = AESGCM(hkdf.derive(secret_key.encode()))

    @staticmethod
    def _bound(tenant_id: str, name: str) -> bytes:
        return json.dumps([tenant_id, name]).encode()

    def seal(self, tenant_id: str, name: str, value: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), self._bound(tenant_id, name))
        return _VERSION + nonce + sealed

    def open(self, tenant_id: str, name: str, blob: bytes) -> str:
        try:
            if blob[:1] != _VERSION:
                raise InvalidTag
            plain = self._aead.decrypt(blob[1:13], blob[13:], self._bound(tenant_id, name))
        except InvalidTag:
            raise SecretUnreadable(
                f"secret {name!r} of {tenant_id} cannot be decrypted: it was stored for another "
                f"workspace or name, or SECRET_KEY changed; set it again with "
                f"`countersign secrets set {name} --tenant {tenant_id}`"
            ) from None
        return plain.decode()


class SqlSecretStore:
    """`key` gives SECRET_KEY when first needed (listing and deleting never need it)."""

    def __init__(self, engine: AsyncEngine, key: Callable[[], str] | None = None) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READONLY)
        self._key = key
        self._box: SecretBox | None = None

    def _sealer(self) -> SecretBox:
        if self._box is None:
            if self._key is None:
                raise EngineError("secrets need SECRET_KEY to be encrypted and decrypted")
            self._box = SecretBox(self._key())
        return self._box

    async def put(self, tenant_id: str, name: str, value: str, now: datetime) -> None:
        values = {"sealed": self._sealer().seal(tenant_id, name, value), "updated_at": now}
        insert = insert_for(self._engine.dialect.name)
        statement = insert(tenant_secrets).values(tenant_id=tenant_id, name=name, **values)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "name"], set_=values
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def delete(self, tenant_id: str, name: str) -> bool:
        s = tenant_secrets.c
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(tenant_secrets).where(s.tenant_id == tenant_id, s.name == name)
            )
        return bool(result.rowcount)

    async def listed(self, tenant_id: str) -> list[SecretInfo]:
        s = tenant_secrets.c
        query = select(s.name, s.updated_at).where(s.tenant_id == tenant_id).order_by(s.name)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [SecretInfo(row.name, row.updated_at) for row in rows]

    async def values(self, tenant_id: str, names: Collection[str] | None) -> dict[str, str]:
        s = tenant_secrets.c
        query = select(s.name, s.sealed).where(s.tenant_id == tenant_id)
        if names is not None:
            if not names:
                return {}
            query = query.where(s.name.in_(sorted(names)))
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return {}
        box = self._sealer()
        return {row.name: box.open(tenant_id, row.name, row.sealed) for row in rows}
