from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.multiprocess.served import Server, served


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[Server, str, str, str]]:
    """A served process on a fresh SQLite file, with the agent's and an operator's API keys."""
    async with served(tmp_path) as running:
        yield running
