"""What the web adapter uses of the engine facade (`engine.runtime.service.Engine`) and of
storage, as Protocols: the web tests can drive the real engine on memory stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from engine.away import Away
from engine.events import Channel, Decision, Event
from engine.ports import (
    AppliedDefinition,
    DefinitionStore,
    PendingTask,
    RecordedEvent,
    RunPage,
    StoredDefinition,
    TaskSla,
)
from engine.state import RunState

Listener = Callable[[RunState, list[Event]], Awaitable[None]]


class EngineFacade(Protocol):
    async def apply_definition(
        self, tenant_id: str, text: str, filename: str | None = None
    ) -> AppliedDefinition: ...

    async def get_definition(
        self, tenant_id: str, name: str, version: int | None = None
    ) -> StoredDefinition: ...

    async def list_definitions(self, tenant_id: str) -> list[StoredDefinition]: ...

    @property
    def definitions(self) -> DefinitionStore:
        """The definition store (for disabling a workflow, which the facade does not wrap)."""
        ...

    async def start_run(
        self,
        tenant_id: str,
        workflow: str,
        inputs: dict[str, Any],
        requester: str,
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        version: int | None = None,
    ) -> RunState: ...

    async def decide(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str,
        decision: Decision,
        fields: dict[str, Any] | None = None,
        channel: Channel = "api",
        override: bool = False,
    ) -> RunState: ...

    async def submit_input(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str,
        values: dict[str, Any],
        channel: Channel = "api",
    ) -> RunState: ...

    async def may_decide(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str,
        decision: str = "approve",
        channel: str = "api",
    ) -> RunState: ...

    async def may_submit(
        self, tenant_id: str, run_id: str, step_id: str, actor: str, channel: str = "api"
    ) -> RunState: ...

    async def signal(
        self, tenant_id: str, run_id: str, name: str, payload: dict[str, Any]
    ) -> RunState: ...

    async def cancel(
        self,
        tenant_id: str,
        run_id: str,
        actor: str,
        reason: str = "",
        channel: Channel = "api",
        admin: bool = False,
    ) -> RunState: ...

    async def get_run(self, tenant_id: str, run_id: str) -> RunState: ...

    async def timeline(self, tenant_id: str, run_id: str) -> list[RecordedEvent]: ...

    async def list_runs(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        requester: str | None = None,
        participant: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage: ...

    async def pending_for(
        self, tenant_id: str, principal: str, *, limit: int = 100, offset: int = 0
    ) -> list[PendingTask]: ...

    # Human tasks (notes/engine5-api.md): delegation, out of office, questions, comments, SLA.

    async def delegate(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str,
        to: str,
        *,
        reason: str = "",
        channel: str = "api",
        admin: bool = False,
        from_: str | None = None,
    ) -> RunState: ...

    async def ask(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str,
        question: str,
        *,
        channel: str = "api",
    ) -> RunState: ...

    async def answer(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        question_id: str,
        actor: str,
        text: str,
        *,
        channel: str = "api",
    ) -> RunState: ...

    async def comment(
        self,
        tenant_id: str,
        run_id: str,
        actor: str,
        text: str,
        *,
        step_id: str | None = None,
        channel: str = "slack",
    ) -> RunState: ...

    async def sla(
        self, tenant_id: str, *, principal: str | None = None, limit: int = 100
    ) -> list[TaskSla]: ...

    async def set_away(
        self,
        tenant_id: str,
        user: str,
        delegate: str,
        *,
        until: datetime,
        starts: datetime | None = None,
        actor: str | None = None,
    ) -> Away: ...

    async def clear_away(self, tenant_id: str, user: str) -> None: ...

    async def away_of(self, tenant_id: str, user: str) -> Away | None: ...

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` after every committed change."""
        ...

    def unsubscribe(self, listener: Listener) -> None: ...


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
    `EngineFacade.subscribe`, not here. Callbacks run in the event loop and must be quick;
    `on_gap` is called when the feed comes back after an outage (notices may have been lost)."""

    def listen(
        self, callback: Callable[[RunNotice], None], on_gap: Callable[[], None] | None = None
    ) -> None: ...

    def unlisten(
        self, callback: Callable[[RunNotice], None], on_gap: Callable[[], None] | None = None
    ) -> None: ...
