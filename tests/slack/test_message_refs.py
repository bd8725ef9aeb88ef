"""Card locations survive a restart: the SQL store on SQLite and PostgreSQL, and the memory one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.message_refs import MemoryMessageRefs, MessageRef, MessageRefs
from storage import open_storage
from storage.slack_messages import SqlMessageRefs
from tests.conftest import ALL_BACKENDS, empty_database


@pytest.fixture(params=ALL_BACKENDS)
async def refs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MessageRefs]:
    if request.param == "memory":
        yield MemoryMessageRefs()
        return
    async with empty_database(request.param, tmp_path) as url:
        storage = await open_storage(url, create=True)
        try:
            yield SqlMessageRefs(storage.engine, MessageRef)
        finally:
            await storage.close()


async def test_put_get_replace_and_list_by_step(refs: MessageRefs) -> None:
    assert await refs.get("T1", "r1", "s1", "U1") is None
    await refs.put("T1", "r1", "s1", "U1", MessageRef("D1", "1.1"))
    await refs.put("T1", "r1", "s1", "U2", MessageRef("D2", "1.2"))
    await refs.put("T1", "r1", "s1", "U2", MessageRef("D2", "1.3"))
    await refs.put("T2", "r1", "s1", "U3", MessageRef("D3", "1.4"))  # another workspace
    assert await refs.get("T1", "r1", "s1", "U2") == MessageRef("D2", "1.3")
    assert await refs.for_step("T1", "r1", "s1") == {
        "U1": MessageRef("D1", "1.1"),
        "U2": MessageRef("D2", "1.3"),
    }
    assert await refs.for_step("T1", "r1", "other") == {}
