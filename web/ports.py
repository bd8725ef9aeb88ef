"""What the web adapter needs besides the engine (`engine.EngineApi`): storage's readiness and
metrics, the router and the run feed, as Protocols."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Router(Protocol):
    def register(self, channel: str, handler: Any) -> None: ...


class Readiness(Protocol):
    async def is_current(self) -> bool:
        """True when the database answers and its migrations are at the newest revision;
        raises when the database cannot be reached."""
        ...


class MetricsSource(Protocol):
    """Cheap aggregate reads across all tenants, for /metrics."""

    async def runs_by_status(self) -> dict[str, int]: ...

    async def pending_task_count(self) -> int: ...


class RunNotice(Protocol):
    """A run changed in another process: which run, and its sequence number after the change."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    @property
    def seq(self) -> int: ...


class RunFeed(Protocol):
    """Run changes committed by other processes serving the same database (replicas), e.g.
    `relay.redis_feed.RedisRunFeed`. Changes this process commits come through
    `EngineApi.subscribe`, not here. Callbacks run in the event loop and must be quick;
    `on_gap` is called when the feed comes back after an outage (notices may have been lost)."""

    def listen(
        self, callback: Callable[[RunNotice], None], on_gap: Callable[[], None] | None = None
    ) -> None: ...

    def unlisten(
        self, callback: Callable[[RunNotice], None], on_gap: Callable[[], None] | None = None
    ) -> None: ...
