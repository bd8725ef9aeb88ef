"""Who has opened their App Home, per workspace, and the page they look at.

A change re-publishes the Home of the people it concerns only if they opened it once (Slack shows
an unpublished Home as empty, and publishing to everyone a run names would waste the rate limit).
The record must outlive the process and be shared by replicas, or Homes go stale after a restart
or when another replica commits the change: production uses `storage.slack_home.SqlHomeOpeners`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol


class HomeOpeners(Protocol):
    async def opened(self, tenant_id: str, user: str, page: int, at: datetime) -> None:
        """`user` opened their App Home (or turned to `page` of it) at `at`."""
        ...

    async def page(self, tenant_id: str, user: str) -> int | None:
        """The page `user` last looked at; None when they never opened their App Home."""
        ...

    async def among(self, tenant_id: str, users: Iterable[str]) -> set[str]:
        """Those of `users` who have opened their App Home."""
        ...


class MemoryHomeOpeners:
    """In-memory `HomeOpeners` for tests of the adapter alone (lost on restart)."""

    def __init__(self) -> None:
        self._pages: dict[tuple[str, str], int] = {}

    async def opened(self, tenant_id: str, user: str, page: int, at: datetime) -> None:
        self._pages[(tenant_id, user)] = page

    async def page(self, tenant_id: str, user: str) -> int | None:
        return self._pages.get((tenant_id, user))

    async def among(self, tenant_id: str, users: Iterable[str]) -> set[str]:
        return {u for u in users if (tenant_id, u) in self._pages}
