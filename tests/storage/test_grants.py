"""The standing grants store: the same contract on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine import Grant
from engine.testing import MemoryStorage
from storage import Storage

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _grant(tenant: str, grant_id: str, *, hours: float = 8, **over: object) -> Grant:
    values: dict[str, object] = {
        "tenant_id": tenant,
        "grant_id": grant_id,
        "requester": "api:key1",
        "agent": "billing-bot",
        "tool": "refund",
        "digest": "a" * 64,
        "arguments": {"order": 1234, "amount": 80},
        "pattern": None,
        "granted_by": "UBOB",
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=hours),
    }
    values.update(over)
    return Grant(**values)  # type: ignore[arg-type]


async def test_put_get_active_revoke_and_tenants(store_backend: MemoryStorage | Storage) -> None:
    store = store_backend.grants
    soon = _grant("T1", "A1", hours=1, pattern={"amount": {"max": 100}})
    later = _grant("T1", "A2", hours=8)
    other_key = _grant("T1", "A3", requester="api:key2")
    other_tool = _grant("T1", "A4", tool="delete_user")
    other_tenant = _grant("T2", "A1")
    for grant in (later, soon, other_key, other_tool, other_tenant):
        await store.put(grant)
    await store.put(_grant("T1", "A1", hours=99))  # the same approval: kept as first stored
    assert await store.get("T1", "A1") == soon
    assert await store.get("T2", "A1") == other_tenant
    assert await store.get("T1", "NONE") is None
    assert await store.active("T1", NOW, requester="api:key1", tool="refund") == [soon, later]
    assert [g.grant_id for g in await store.active("T1", NOW)] == ["A1", "A2", "A3", "A4"]
    # Expired at its end: an hour later only the 8-hour ones remain.
    hour = NOW + timedelta(hours=1)
    assert await store.active("T1", hour, requester="api:key1", tool="refund") == [later]
    revoked = await store.revoke("T1", "A2", "UADMIN", NOW + timedelta(minutes=5))
    assert revoked is not None and revoked.revoked_by == "UADMIN"
    again = await store.revoke("T1", "A2", "UOTHER", NOW + timedelta(minutes=9))
    assert again == revoked  # the first revocation stands
    assert await store.revoke("T1", "NONE", "UADMIN", NOW) is None
    assert await store.revoke("T2", "A2", "UADMIN", NOW) is None  # not another tenant's
    assert await store.active("T1", NOW, requester="api:key1", tool="refund") == [soon]
    assert await store.active("T2", NOW) == [other_tenant]
