"""The out-of-office store: the same contract on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.away import Away
from engine.testing import MemoryStorage
from storage import Storage

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


async def test_put_get_replace_current_and_delete(store_backend: MemoryStorage | Storage) -> None:
    store = store_backend.aways
    ann = Away("T1", "UANN", "UBOB", NOW, NOW + timedelta(days=3), created_by="UANN")
    later = Away("T1", "UCAT", "UBOB", NOW + timedelta(days=10), NOW + timedelta(days=12))
    ended = Away("T1", "UDAN", "UBOB", NOW - timedelta(days=5), NOW - timedelta(days=1))
    other_tenant = Away("T2", "UANN", "UEVE", NOW, NOW + timedelta(days=3))
    for away in (ann, later, ended, other_tenant):
        await store.put(away)
    assert await store.get("T1", "UANN") == ann
    assert await store.get("T2", "UANN") == other_tenant
    assert await store.get("T1", "UNOBODY") is None
    assert await store.current("T1", NOW) == [ann, later]  # not ended; started or not
    moved = Away("T1", "UANN", "UEVE", NOW, NOW + timedelta(days=1))
    await store.put(moved)  # one record per user: replaced
    assert await store.get("T1", "UANN") == moved
    assert await store.delete("T1", "UANN") is True
    assert await store.delete("T1", "UANN") is False
    assert await store.current("T1", NOW) == [later]
    assert await store.current("T2", NOW) == [other_tenant]
