"""Tenant secrets on SQLite and PostgreSQL: per tenant, encrypted at rest, and bound to their tenant
and name (a row moved elsewhere does not decrypt)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from engine.errors import EngineError, SecretUnreadable
from engine.ports import SecretInfo
from storage import Storage
from storage.secrets import SqlSecretStore, tenant_secrets

NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
TOKEN = "erp-token-of-tenant-a-0123456789"


async def test_each_tenant_has_its_own_secrets(storage: Storage) -> None:
    store = storage.secrets
    await store.put("TA", "ERP_TOKEN", TOKEN, NOW)
    await store.put("TA", "IAM_TOKEN", "iam-a", NOW)
    await store.put("TB", "OTHER", "b-value", NOW)

    assert await store.values("TA", None) == {"ERP_TOKEN": TOKEN, "IAM_TOKEN": "iam-a"}
    assert await store.values("TA", ["ERP_TOKEN", "NOPE"]) == {"ERP_TOKEN": TOKEN}
    assert await store.values("TA", []) == {}
    assert await store.values("TB", ["ERP_TOKEN"]) == {}  # not another tenant's
    assert await store.listed("TB") == [SecretInfo("OTHER", NOW)]

    later = NOW + timedelta(hours=1)
    await store.put("TA", "ERP_TOKEN", "rotated", later)  # replaced, not duplicated
    assert await store.values("TA", ["ERP_TOKEN"]) == {"ERP_TOKEN": "rotated"}
    assert await store.listed("TA") == [
        SecretInfo("ERP_TOKEN", later),
        SecretInfo("IAM_TOKEN", NOW),
    ]

    assert await store.delete("TA", "ERP_TOKEN") is True
    assert await store.delete("TA", "ERP_TOKEN") is False
    assert await store.delete("TB", "IAM_TOKEN") is False  # TA's, untouched
    assert await store.values("TA", None) == {"IAM_TOKEN": "iam-a"}


async def test_the_stored_column_does_not_hold_the_value(storage: Storage) -> None:
    await storage.secrets.put("TA", "ERP_TOKEN", TOKEN, NOW)
    await storage.secrets.put("TB", "ERP_TOKEN", TOKEN, NOW)
    async with storage.engine.connect() as conn:
        rows = (await conn.execute(select(tenant_secrets))).all()
    assert len(rows) == 2
    for row in rows:
        raw = bytes(row.sealed)
        assert TOKEN.encode() not in raw and b"erp-token" not in raw
    assert bytes(rows[0].sealed) != bytes(rows[1].sealed)  # a fresh nonce each time


@pytest.mark.parametrize(
    "moved", [{"tenant_id": "TB"}, {"name": "OTHER_TOKEN"}], ids=["tenant", "name"]
)
async def test_a_row_moved_to_another_tenant_or_name_does_not_decrypt(
    storage: Storage, moved: dict[str, str]
) -> None:
    await storage.secrets.put("TA", "ERP_TOKEN", TOKEN, NOW)
    async with storage.engine.begin() as conn:
        await conn.execute(update(tenant_secrets).values(**moved))
    tenant, name = moved.get("tenant_id", "TA"), moved.get("name", "ERP_TOKEN")
    with pytest.raises(SecretUnreadable) as caught:
        await storage.secrets.values(tenant, [name])
    assert f"secret {name!r} of {tenant} cannot be decrypted" in caught.value.message
    assert f"countersign secrets set {name} --tenant {tenant}" in caught.value.message
    assert TOKEN not in caught.value.message
    # Still listed and deletable, so it can be set again.
    assert [s.name for s in await storage.secrets.listed(tenant)] == [name]
    assert await storage.secrets.delete(tenant, name) is True


async def test_another_secret_key_cannot_read_them(storage: Storage) -> None:
    await storage.secrets.put("TA", "ERP_TOKEN", TOKEN, NOW)
    other = SqlSecretStore(storage.engine, lambda: "a-different-secret-key-0123456789")
    with pytest.raises(SecretUnreadable, match="SECRET_KEY changed"):
        await other.values("TA", None)


async def test_without_a_secret_key_names_work_and_values_say_why_not(storage: Storage) -> None:
    await storage.secrets.put("TA", "ERP_TOKEN", TOKEN, NOW)
    keyless = SqlSecretStore(storage.engine)
    assert [s.name for s in await keyless.listed("TA")] == ["ERP_TOKEN"]
    with pytest.raises(EngineError, match="need SECRET_KEY"):
        await keyless.values("TA", None)
    with pytest.raises(EngineError, match="need SECRET_KEY"):
        await keyless.put("TA", "X", "y", NOW)
