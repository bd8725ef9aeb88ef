"""Versioned definitions: the same contract on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from engine.definitions.models import WorkflowDefinition
from engine.errors import NotFound
from tests.storage.builders import T0


def workflow(name: str = "expense", approver: str = "U_BOSS", **extra: Any) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {
            "name": name,
            "steps": [
                {"id": "manager", "type": "approval", "approvers": [approver], "timeout": "2d"},
                {"id": "book", "type": "http", "url": "https://erp.example/x", "json": {"a": 1}},
            ],
            **extra,
        }
    )


async def test_applying_identical_content_is_a_no_op(store_backend: Any) -> None:
    defs = store_backend.definitions
    first = await defs.apply("T1", workflow(), "name: expense\n", T0)
    # Different text, same validated model: still the same version.
    again = await defs.apply("T1", workflow(), "# reformatted\nname: expense\n", T0)
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created) == (1, False)
    stored = await defs.get("T1", "expense")
    assert stored.source == "name: expense\n"
    assert stored.definition == workflow()


async def test_changed_content_becomes_the_next_version_and_every_version_stays(
    store_backend: Any,
) -> None:
    defs = store_backend.definitions
    await defs.apply("T1", workflow(), "v1", T0)
    applied = await defs.apply("T1", workflow(approver="U_OTHER"), "v2", T0 + timedelta(hours=1))
    assert (applied.version, applied.created) == (2, True)
    latest = await defs.get("T1", "expense")
    first = await defs.get("T1", "expense", 1)
    assert (latest.version, latest.source, latest.created_at) == (2, "v2", T0 + timedelta(hours=1))
    assert first.definition == workflow() and first.created_at == T0
    assert [v.version for v in await defs.versions("T1", "expense")] == [1, 2]


async def test_latest_lists_each_workflow_once_by_name(store_backend: Any) -> None:
    defs = store_backend.definitions
    await defs.apply("T1", workflow("travel"), "t1", T0)
    await defs.apply("T1", workflow("expense"), "e1", T0)
    await defs.apply("T1", workflow("expense", approver="U_X"), "e2", T0)
    latest = await defs.latest("T1")
    assert [(d.name, d.version) for d in latest] == [("expense", 2), ("travel", 1)]


async def test_disable_and_enable(store_backend: Any) -> None:
    defs = store_backend.definitions
    await defs.apply("T1", workflow(), "v1", T0)
    await defs.set_disabled("T1", "expense", True)
    assert (await defs.get("T1", "expense")).disabled
    # Re-applying the same content leaves it disabled; a change re-enables it.
    await defs.apply("T1", workflow(), "v1", T0)
    assert (await defs.get("T1", "expense")).disabled
    await defs.apply("T1", workflow(approver="U_NEW"), "v2", T0)
    assert not (await defs.get("T1", "expense")).disabled
    await defs.set_disabled("T1", "expense", True)
    await defs.set_disabled("T1", "expense", False)
    assert not (await defs.get("T1", "expense", 1)).disabled


async def test_unknown_names_and_versions_are_not_found(store_backend: Any) -> None:
    defs = store_backend.definitions
    await defs.apply("T1", workflow(), "v1", T0)
    with pytest.raises(NotFound, match="no version 7"):
        await defs.get("T1", "expense", 7)
    with pytest.raises(NotFound, match="'nope'"):
        await defs.get("T1", "nope")
    with pytest.raises(NotFound, match="'nope'"):
        await defs.get("T1", "nope", 1)
    with pytest.raises(NotFound):
        await defs.versions("T1", "nope")
    with pytest.raises(NotFound):
        await defs.set_disabled("T1", "nope", True)


async def test_tenants_do_not_see_each_other(store_backend: Any) -> None:
    defs = store_backend.definitions
    await defs.apply("T1", workflow(), "v1", T0)
    await defs.apply("T1", workflow(approver="U_2"), "v2", T0)
    applied = await defs.apply("T2", workflow(), "other", T0)
    assert (applied.version, applied.created) == (1, True)
    assert [d.source for d in await defs.latest("T2")] == ["other"]
    assert await defs.latest("T3") == []
    with pytest.raises(NotFound):
        await defs.get("T3", "expense")
    with pytest.raises(NotFound):
        await defs.get("T2", "expense", 2)
    with pytest.raises(NotFound):
        await defs.versions("T3", "expense")
    with pytest.raises(NotFound):
        await defs.set_disabled("T3", "expense", True)
    await defs.set_disabled("T2", "expense", True)
    assert not (await defs.get("T1", "expense")).disabled


async def test_concurrent_applies_of_different_content_get_distinct_versions(
    store_backend: Any,
) -> None:
    defs = store_backend.definitions
    await defs.apply("T1", workflow(), "v1", T0)
    results = await asyncio.gather(
        *(defs.apply("T1", workflow(approver=f"U_{i}"), f"v{i}", T0) for i in range(4))
    )
    assert sorted(r.version for r in results) == [2, 3, 4, 5]
    assert [v.version for v in await defs.versions("T1", "expense")] == [1, 2, 3, 4, 5]
