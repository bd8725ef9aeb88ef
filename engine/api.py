"""`EngineApi`: what adapters (Slack, web, email, CLI) may ask of the engine, as one Protocol.

`engine.runtime.service.Engine` implements it (checked by mypy below); adapters type against
this, so their tests can drive the real engine and nothing reaches past its public methods.
Wiring (handlers, routers, start/stop) stays on `Engine`, which only the process setup holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from engine.actor import Actor
from engine.away import Away
from engine.definitions.models import WorkflowDefinition
from engine.grants import Grant
from engine.ports import (
    AppliedDefinition,
    Clock,
    DeadCommand,
    Directory,
    PendingSummary,
    PendingTask,
    RecordedEvent,
    RunPage,
    SlaPage,
    StoredDefinition,
    TaskSla,
)
from engine.runtime.applier import Listener
from engine.schedules import ScheduleInfo
from engine.shown import Shown
from engine.state import RunState


class EngineApi(Protocol):
    @property
    def clock(self) -> Clock:
        """The engine's clock: adapters stamp what they show ("3h ago") with the same time."""
        ...

    def use_directory(self, directory: Directory) -> None:
        """Resolve approver groups and emails with `directory` (Slack's, once connected)."""
        ...

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(state, events)` after every committed change (read-only, quick)."""
        ...

    def unsubscribe(self, listener: Listener) -> None: ...

    # ------------------------------------------------------------ definitions

    async def apply_definition(
        self,
        tenant_id: str,
        text: str,
        filename: str | None = None,
        actor: Actor | None = None,
    ) -> AppliedDefinition:
        """A new version of a workflow; a person (`actor`) must be an admin (`not_admin`)."""
        ...

    def may_define(self, actor: Actor) -> None:
        """Refuse (`not_admin`) `actor` who may not define workflows: ask before a form."""
        ...

    async def get_definition(
        self, tenant_id: str, name: str, version: int | None = None
    ) -> StoredDefinition: ...

    async def run_definition(self, run: RunState) -> WorkflowDefinition:
        """The definition `run` follows (its pinned version): cached, as versions never change
        (what a channel draws a run with, without a read per drawing)."""
        ...

    async def list_definitions(self, tenant_id: str) -> list[StoredDefinition]: ...

    async def set_disabled(self, tenant_id: str, name: str, disabled: bool) -> None: ...

    async def list_schedules(self, tenant_id: str) -> list[ScheduleInfo]: ...

    # ------------------------------------------------------------ runs

    async def start_run(
        self,
        tenant_id: str,
        workflow: str,
        inputs: Mapping[str, Any],
        requester: str,
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        version: int | None = None,
        slack_step: str | None = None,
    ) -> RunState: ...

    async def decide(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        decision: str,
        fields: Mapping[str, Any] | None = None,
        channel: str = "api",
        override: bool = False,
        reason: str = "",
        admin: bool = False,
        proxy: str | None = None,
    ) -> RunState: ...

    async def may_decide(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        decision: str = "approve",
        channel: str = "api",
    ) -> RunState:
        """The run, when `actor` may decide the step now; the decider's refusal otherwise (for
        a channel that asks before showing a form). Records nothing."""
        ...

    async def submit_input(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        values: Mapping[str, Any],
        channel: str = "api",
        override: bool = False,
        admin: bool = False,
    ) -> RunState: ...

    async def may_submit(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        """Like `may_decide`, for an input step's form."""
        ...

    async def signal(
        self, tenant_id: str, run_id: str, name: str, payload: Mapping[str, Any]
    ) -> RunState: ...

    async def cancel(
        self,
        tenant_id: str,
        run_id: str,
        actor: str | Actor,
        reason: str = "",
        channel: str = "api",
        admin: bool = False,
    ) -> RunState: ...

    async def may_cancel(
        self, tenant_id: str, run_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        """The run, when `actor` may cancel it now; the refusal otherwise. Records nothing."""
        ...

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

    # ------------------------------------------------------------ people's tasks

    async def delegate(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        to: str,
        *,
        reason: str = "",
        channel: str = "api",
        admin: bool = False,
        reassign: bool = False,
        from_: str | None = None,
    ) -> RunState:
        """`actor` hands their part on to `to`; a `reassign` (an admin's only) moves `from_`'s
        part (default: the one person the step waits on)."""
        ...

    async def may_delegate(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        channel: str = "api",
    ) -> RunState:
        """The run, when `actor` may hand their part of the step on now; else the refusal."""
        ...

    async def may_reassign(
        self, tenant_id: str, run_id: str, step_id: str, actor: Actor
    ) -> RunState:
        """The run, when `actor` (an admin) may reassign a part of the step now; else the
        refusal (`not_admin` for anyone else)."""
        ...

    async def set_away(
        self,
        tenant_id: str,
        user: str,
        delegate: str,
        *,
        until: datetime,
        starts: datetime | None = None,
        actor: str | Actor | None = None,
    ) -> Away:
        """With an `Actor` who is not an admin, only their own out-of-office (`not_admin`)."""
        ...

    async def clear_away(self, tenant_id: str, user: str, actor: Actor | None = None) -> None: ...

    def may_change_away(self, actor: Actor, user: str, *, ending: bool = False) -> None:
        """Refuse (`not_admin`) `actor` who may not set (`ending`: end) `user`'s
        out-of-office: anyone their own, an admin anyone's."""
        ...

    async def apply_grant(self, run: RunState) -> tuple[RunState, Grant | None]: ...

    async def active_grants(self, tenant_id: str) -> list[Grant]: ...

    async def revoke_grant(
        self, tenant_id: str, grant_id: str, actor: str, *, admin: bool = False
    ) -> Grant: ...

    async def away_of(self, tenant_id: str, user: str) -> Away | None: ...

    async def ask(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        question: str,
        *,
        channel: str = "api",
    ) -> RunState: ...

    async def may_ask(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        channel: str = "api",
    ) -> RunState:
        """The run, when `actor` may ask the requester about the step now; else the refusal."""
        ...

    async def answer(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        question_id: str,
        actor: str | Actor,
        text: str,
        *,
        channel: str = "api",
    ) -> RunState: ...

    async def may_answer(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        question_id: str,
        actor: str | Actor,
        channel: str = "api",
    ) -> RunState:
        """The run, when `actor` may answer the question now; else the refusal
        (`already_answered`, `not_asked`, `closed`)."""
        ...

    async def comment(
        self,
        tenant_id: str,
        run_id: str,
        actor: str | Actor,
        text: str,
        *,
        step_id: str | None = None,
        channel: str = "slack",
    ) -> RunState: ...

    async def record_shown(
        self,
        tenant_id: str,
        run_id: str,
        shown: Sequence[Shown],
        drawn_from: RunState | None = None,
    ) -> None:
        """Record what a channel showed of the run's waiting steps (engine.shown): the content
        is recorded when it changed for that recipient on that channel. `drawn_from`, the state
        the channel drew: what it shows of closed steps needs no look at the run."""
        ...

    async def sla(
        self, tenant_id: str, *, principal: str | None = None, limit: int = 100
    ) -> list[TaskSla]: ...

    async def sla_page(
        self,
        tenant_id: str,
        *,
        principal: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SlaPage:
        """A page of `sla`, after `cursor` (a previous page's `next_cursor`; InvalidInput when
        garbled): the task rows it shows and the runs they belong to are all it reads."""
        ...

    async def sla_summary(
        self, tenant_id: str, *, principal: str | None = None, cutoff: datetime
    ) -> PendingSummary:
        """What the whole SLA view holds, counted by the database: tasks, how many wait since
        before `cutoff`, the oldest's start."""
        ...

    # ------------------------------------------------------------ operations

    async def dead_commands(self, tenant_id: str | None = None) -> list[DeadCommand]: ...

    async def retry_command(self, command_id: int) -> DeadCommand: ...


if TYPE_CHECKING:
    from engine.runtime.service import Engine

    def _engine_implements_the_api(engine: Engine) -> EngineApi:
        return engine  # mypy fails here when `Engine` and `EngineApi` drift apart
