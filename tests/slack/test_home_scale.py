"""The App Home renders a 1,000-item inbox a page at a time, within Slack's 100 blocks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.background import Background
from bot.blocks import ids
from bot.blocks.app_home import TASKS_PER_PAGE
from bot.clients import SlackClients
from bot.home import HomeTab
from engine.runtime.service import Engine
from engine.testing import MemoryStorage
from tests.fakeslack import FakeSlack

TEAM = "T111"
PENDING = 1000
FLOOD = """
name: flood
steps:
  - id: check
    type: approval
    approvers: [UBOB]
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(team_id=TEAM)
    await fake.start()
    yield fake
    await fake.stop()


async def test_a_thousand_pending_items_page_within_the_block_limit(fake: FakeSlack) -> None:
    engine = Engine.from_storage(MemoryStorage())  # not started: the runs just wait on Bob
    await engine.apply_definition(TEAM, FLOOD)
    for _ in range(PENDING):
        await engine.start_run(TEAM, "flood", {}, "UADA")
    background = Background()
    home = HomeTab(SlackClients(fake.api_url, bot_token=fake.bot_token), engine, background)

    home.opened(TEAM, "UBOB")
    await background.drain()
    first = fake.home["UBOB"]
    assert len(first["blocks"]) <= 100
    assert str(first["blocks"]).count(ids.APPROVE) == TASKS_PER_PAGE
    assert "Newer" in str(first["blocks"]) and "Older" not in str(first["blocks"])

    last_page = PENDING // TASKS_PER_PAGE - 1
    home.opened(TEAM, "UBOB", page=last_page)
    await background.drain()
    last = fake.home["UBOB"]
    assert len(last["blocks"]) <= 100
    assert str(last["blocks"]).count(ids.APPROVE) == TASKS_PER_PAGE
    assert "Older" in str(last["blocks"]) and "Newer" not in str(last["blocks"])
    assert f"Showing {PENDING - TASKS_PER_PAGE + 1} to {PENDING}" in str(last["blocks"])
