"""Who opened their App Home is remembered per workspace: the SQL store on SQLite and
PostgreSQL, and the memory one, keep the same contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.home_openers import HomeOpeners, MemoryHomeOpeners
from storage import open_storage
from storage.slack_home import SqlHomeOpeners
from tests.conftest import ALL_BACKENDS, empty_database

AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@pytest.fixture(params=ALL_BACKENDS)
async def openers(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HomeOpeners]:
    if request.param == "memory":
        yield MemoryHomeOpeners()
        return
    async with empty_database(request.param, tmp_path) as url:
        storage = await open_storage(url, create=True)
        try:
            yield SqlHomeOpeners(storage.engine)
        finally:
            await storage.close()


async def test_an_opened_home_is_remembered_with_its_page_per_workspace(
    openers: HomeOpeners,
) -> None:
    assert await openers.page("T1", "UBOB") is None
    await openers.opened("T1", "UBOB", 0, AT)
    await openers.opened("T1", "UBOB", 3, AT)  # turned to page 3
    await openers.opened("T2", "UCAT", 1, AT)  # another workspace
    assert await openers.page("T1", "UBOB") == 3
    assert await openers.page("T1", "UCAT") is None
    assert await openers.page("T2", "UCAT") == 1
    assert await openers.among("T1", ["UBOB", "UCAT", "UDAN"]) == {"UBOB"}
    assert await openers.among("T2", []) == set()


async def test_among_a_crowd_larger_than_one_query(openers: HomeOpeners) -> None:
    crowd = [f"U{i:05d}" for i in range(1200)]
    for user in crowd[::100]:
        await openers.opened("T1", user, 0, AT)
    assert await openers.among("T1", crowd) == set(crowd[::100])
