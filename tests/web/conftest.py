from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.memory import ManualClock
from storage import Storage
from tests.web.support import Stack, web_stack


@pytest.fixture
async def stack(storage: Storage, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Stack]:
    async with web_stack(storage, clock, tmp_path) as s:
        yield s
