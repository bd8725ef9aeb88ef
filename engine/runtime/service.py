"""`Engine`: the one entry point every adapter (CLI, Slack, web, email, API) uses.

It turns requests into triggers for the pure decider, commits what the decider says through the
`RunStore` port, and runs the loops that carry the consequences out: the outbox dispatcher and
the timer wake-ups. Tests drive it without background loops: `tick()` and `run_until_idle()` do
the same work on demand, with time taken from the injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from engine import principal as principals
from engine.actor import Actor, identify
from engine.away import Away
from engine.definitions import load_definition
from engine.definitions.models import WorkflowDefinition
from engine.errors import NotFound
from engine.grants import Grant
from engine.ports import (
    AppliedDefinition,
    AwayStore,
    Clock,
    CommandHandler,
    DeadCommand,
    DefinitionStore,
    Directory,
    GrantStore,
    Outbox,
    PendingSummary,
    PendingTask,
    RecordedEvent,
    RunPage,
    RunStore,
    SecretStore,
    SlaPage,
    StoredDefinition,
    TaskSla,
    TimerStore,
)
from engine.runtime.applier import Listener, RunApplier, Work
from engine.runtime.clock import SystemClock
from engine.runtime.directory import ResolveApproversHandler
from engine.runtime.environment import Environment
from engine.runtime.human_tasks import HumanTasks
from engine.runtime.ids import IdFactory, UlidFactory
from engine.runtime.loops import Loops
from engine.runtime.permissions import Permissions, decide_trigger
from engine.runtime.router import ROUTED_COMMANDS, ChannelRouter
from engine.runtime.settings import RuntimeSettings, Stores
from engine.runtime.standing_grants import StandingGrants
from engine.runtime.starts import RunStarter
from engine.schedules import ScheduleInfo
from engine.secrets import Secrets, Seeds
from engine.shown import Shown, clean_proof, is_request, shown_item
from engine.state import RunState
from engine.triggers import Cancel, RecordShown, Signal, SubmitInput
from engine.working_time import DEFAULT_HOURS, WorkingHours


class Engine:
    def __init__(
        self,
        *,
        definitions: DefinitionStore,
        runs: RunStore,
        outbox: Outbox,
        timers: TimerStore,
        aways: AwayStore,
        clock: Clock | None = None,
        handlers: Mapping[str, CommandHandler] | None = None,
        directory: Directory | None = None,
        new_run_id: IdFactory | None = None,
        scheduler: Any = None,  # an APScheduler AsyncIOScheduler; one is created when None
        settings: RuntimeSettings | None = None,
        working_hours: WorkingHours | None = None,
        secrets: SecretStore | Secrets | None = None,
        secret_seeds: Seeds | None = None,
        grants: GrantStore | None = None,
    ) -> None:
        self.settings = settings or RuntimeSettings()
        # Each tenant's `{{ secrets.NAME }}`: checked when a definition is applied; the http
        # handler reads them at dispatch (given built, when the composition root shares them).
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets, secret_seeds)
        self.clock: Clock = clock or SystemClock()
        self.definitions = definitions
        self.runs = runs
        self.outbox = outbox
        self.timers = timers
        self.router = ChannelRouter()
        self.approvers = ResolveApproversHandler(directory)
        self.handlers: dict[str, CommandHandler] = dict.fromkeys(ROUTED_COMMANDS, self.router)
        self.handlers["resolve_approvers"] = self.approvers
        self.handlers.update(handlers or {})
        s = self.settings
        self.environment = Environment(
            self.clock, lambda: self.approvers.directory, aways, working_hours or DEFAULT_HOURS
        )
        self._applier = RunApplier(
            definitions,
            runs,
            outbox,
            timers,
            self.clock,
            max_attempts=s.max_attempts,
            environment=self.environment,
        )
        self._loops = Loops(
            self._applier,
            definitions,
            outbox,
            timers,
            self.handlers,
            self.clock,
            s,
            self.start_run,
            scheduler,
        )
        # Named here too: definitions tell the schedules, a revived command wakes the dispatcher.
        self._dispatcher, self._timers = self._loops.dispatcher, self._loops.timers
        self._schedules = self._loops.schedules
        # Delegation, out of office, questions, comments and the SLA view.
        self._tasks = HumanTasks(self._applier, runs, self.environment)
        # The "may this actor ... now?" questions, judged by the decider without recording.
        self._permissions = Permissions(self._applier, runs, self.environment)
        new_run_id = new_run_id or UlidFactory(self.clock)
        self._starts = RunStarter(self._applier, definitions, runs, new_run_id)
        self._grants = StandingGrants(grants, self.clock)
        self.handlers.setdefault("record_grant", self._grants)

    @classmethod
    def from_storage(cls, storage: Stores, **options: Any) -> Engine:
        options.setdefault("secrets", getattr(storage, "secrets", None))
        options.setdefault("grants", getattr(storage, "grants", None))
        return cls(
            definitions=storage.definitions,
            runs=storage.runs,
            outbox=storage.outbox,
            timers=storage.timers,
            aways=storage.aways,
            **options,
        )

    # ------------------------------------------------------------ wiring

    def register(self, command_type: str, handler: CommandHandler) -> None:
        """Perform `command_type` commands (e.g. "call_http") with `handler`."""
        self.handlers[command_type] = handler

    def use_directory(self, directory: Directory) -> None:
        """Resolve approver groups and emails with `directory` (Slack's, once connected)."""
        self.approvers.directory = directory

    def subscribe(self, listener: Listener) -> None:
        """In commit order; the shared state is read-only, and a listener must return quickly (it
        is awaited on the path that moves runs on): one that raises is logged, the run unharmed."""
        self._applier.listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._applier.listeners.remove(listener)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Recover (overdue timers fire, unfinished commands return after their lease), then run."""
        await self._loops.start()

    async def stop(self) -> None:
        """Stop the loops; a batch in hand is recorded first (past the grace: dispatched again)."""
        await self._loops.stop()

    async def tick(self) -> int:
        """One dispatcher pass and one timer sweep: how many commands and timers were handled."""
        return await self._loops.tick()

    async def run_until_idle(self, max_ticks: int = 1000) -> int:
        """Tick until nothing is due; returns the total handled."""
        return await self._loops.run_until_idle(max_ticks)

    # ------------------------------------------------------------ definitions

    async def apply_definition(
        self,
        tenant_id: str,
        text: str,
        filename: str | None = None,
        actor: Actor | None = None,
    ) -> AppliedDefinition:
        """Store a new version of a workflow (unchanged text: the same version). A person
        (`actor`) must be an admin; the operator's CLI and API keys pass none."""
        if actor is not None:
            self.may_define(actor)
        names = await self.secrets.names(tenant_id)
        definition = load_definition(text, filename, secret_names=names)
        before = await self._schedules.before_apply(tenant_id, definition.name)
        applied = await self.definitions.apply(tenant_id, definition, text, self.clock.now())
        self._applier.definitions_changed(tenant_id, applied.name)
        await self._schedules.applied(tenant_id, applied.name, before, applied.created)
        return applied

    async def get_definition(
        self, tenant_id: str, name: str, version: int | None = None
    ) -> StoredDefinition:
        return await self.definitions.get(tenant_id, name, version)

    async def run_definition(self, run: RunState) -> WorkflowDefinition:
        return await self._applier.definition(run.tenant_id, run.workflow, run.version)

    async def list_definitions(self, tenant_id: str) -> list[StoredDefinition]:
        return await self.definitions.latest(tenant_id)

    async def set_disabled(self, tenant_id: str, name: str, disabled: bool) -> None:
        """Disable a workflow (no new runs; running ones go on) or enable it again."""
        await self.definitions.set_disabled(tenant_id, name, disabled)
        self._applier.definitions_changed(tenant_id, name)
        await self._schedules.sync(tenant_id, name, keep=True)  # disabled: removes the timer

    async def list_schedules(self, tenant_id: str) -> list[ScheduleInfo]:
        """The workflows of the tenant whose latest version has a `schedule:`, with their next
        fire (UTC), soonest first; disabled ones last, with no next fire."""
        return await self._schedules.list_all(tenant_id)

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
    ) -> RunState:
        """Start a run on the latest version of `workflow` (or on `version`, e.g. the one just
        applied, which a concurrent apply cannot move). With an `idempotency_key` already used in
        this workspace, the run it started is returned instead of a new one if this start asks
        for the same (`engine.idempotency.start_hash`); else `IdempotencyConflict`. With
        `slack_step` (its execution id), a Slack workflow step waits for the run: its end is
        sent back to Slack."""
        return await self._starts.start(
            tenant_id,
            workflow,
            inputs,
            requester,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            version=version,
            slack_step=slack_step,
        )

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
    ) -> RunState:
        """Record `actor`'s decision on an approval step. Only the step's approvers may decide,
        once each; the step closes when its policy is met. `override` (an admin's action,
        audited with its `reason`) closes the step with this decision whoever `actor` is.
        `proxy`: who passes the decision on for `actor` (an API key). Refusals are the
        decider's `EngineError`s, each with a stable `code`."""
        trigger = decide_trigger(step_id, actor, decision, fields, channel, override, reason, admin)
        if proxy is not None:
            trigger = trigger.model_copy(update={"proxy": principals.canonical(proxy)})
        if isinstance(actor, Actor) and actor.proof:
            trigger = trigger.model_copy(update={"proof": clean_proof(actor.proof)})
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    async def record_shown(
        self,
        tenant_id: str,
        run_id: str,
        shown: Sequence[Shown],
        drawn_from: RunState | None = None,
    ) -> None:
        """One commit of the renderings whose content changed for their recipient and channel."""
        if drawn_from is not None:  # a closed step never reopens: no need to read the run
            shown = [s for s in shown if is_request(drawn_from.steps.get(s.step_id))]
        items = [shown_item(s) for s in shown]
        if items:
            await self._applier.apply(Work(tenant_id, run_id, RecordShown(items=items)))

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
    ) -> RunState:
        """Fill in an input step's form (only its assignee, unless an admin's `override`)."""
        who, via, admin = identify(actor, channel, admin)
        trigger = SubmitInput(
            step_id=step_id,
            actor=who,
            values=dict(values),
            channel=via,
            override=override,
            admin=admin,
            proof=clean_proof(actor.proof) if isinstance(actor, Actor) else {},
        )
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    async def signal(
        self, tenant_id: str, run_id: str, name: str, payload: Mapping[str, Any]
    ) -> RunState:
        trigger = Signal(name=name, payload=dict(payload))
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    async def cancel(
        self,
        tenant_id: str,
        run_id: str,
        actor: str | Actor,
        reason: str = "",
        channel: str = "api",
        admin: bool = False,
    ) -> RunState:
        """Cancel a run: completed steps are compensated. Only its requester or an admin may
        (refused by the decider with `not_admin`)."""
        who, via, admin = identify(actor, channel, admin)
        trigger = Cancel(actor=who, reason=reason, channel=via, admin=admin)
        return await self._applier.apply(Work(tenant_id, run_id, trigger))

    # ------------------------------------------------------------ may this actor ... now?

    def may_define(self, actor: Actor) -> None:
        """Refuse (`not_admin`) `actor` who may not define workflows; a channel asks this
        before it shows the form."""
        self._permissions.may_define(actor)

    def may_change_away(self, actor: Actor, user: str, *, ending: bool = False) -> None:
        """Refuse (`not_admin`) `actor` who may not set (`ending`: end) `user`'s
        out-of-office: anyone their own, an admin anyone's."""
        self._permissions.may_change_away(actor, user, ending=ending)

    async def may_decide(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        decision: str = "approve",
        channel: str = "api",
    ) -> RunState:
        """The run, if `actor` may decide on the step now; else the refusal `decide` would
        raise. Nothing is recorded: a channel asks before it shows a decision form."""
        return await self._permissions.may_decide(
            tenant_id, run_id, step_id, actor, decision, channel
        )

    async def may_submit(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        """The run, if `actor` may fill in the input step now; else the refusal."""
        return await self._permissions.may_submit(tenant_id, run_id, step_id, actor, channel)

    async def may_delegate(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        """The run, if `actor` may hand their part of the step on now; else the refusal."""
        return await self._permissions.may_delegate(tenant_id, run_id, step_id, actor, channel)

    async def may_reassign(
        self, tenant_id: str, run_id: str, step_id: str, actor: Actor
    ) -> RunState:
        """The run, if `actor` (an admin) may reassign a part of the step now; else the
        refusal (`not_admin` for anyone else)."""
        return await self._permissions.may_reassign(tenant_id, run_id, step_id, actor)

    async def may_ask(
        self, tenant_id: str, run_id: str, step_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        """The run, if `actor` may ask the requester about the step now; else the refusal."""
        return await self._permissions.may_ask(tenant_id, run_id, step_id, actor, channel)

    async def may_answer(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        question_id: str,
        actor: str | Actor,
        channel: str = "api",
    ) -> RunState:
        """The run, if `actor` may answer the question now; else the refusal
        (`already_answered`, `not_asked`, `closed`)."""
        return await self._permissions.may_answer(
            tenant_id, run_id, step_id, question_id, actor, channel
        )

    async def may_cancel(
        self, tenant_id: str, run_id: str, actor: str | Actor, channel: str = "api"
    ) -> RunState:
        """The run, if `actor` may cancel it now; else the refusal (`not_admin`, `closed`)."""
        return await self._permissions.may_cancel(tenant_id, run_id, actor, channel)

    # ------------------------------------------------------------ reads

    async def get_run(self, tenant_id: str, run_id: str) -> RunState:
        return await self.runs.load(tenant_id, run_id)

    async def timeline(self, tenant_id: str, run_id: str) -> list[RecordedEvent]:
        return await self.runs.events(tenant_id, run_id)

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
    ) -> RunPage:
        return await self.runs.list_runs(
            tenant_id,
            status=status,
            workflow=workflow,
            requester=principals.canonical(requester) if requester is not None else None,
            participant=principals.canonical(participant) if participant is not None else None,
            limit=limit,
            cursor=cursor,
        )

    async def pending_for(
        self, tenant_id: str, principal: str, *, limit: int = 100, offset: int = 0
    ) -> list[PendingTask]:
        who = principals.canonical(principal)
        return await self.runs.pending_tasks(tenant_id, who, limit=limit, offset=offset)

    # ------------------------------------------------------------ operations

    async def dead_commands(self, tenant_id: str | None = None) -> list[DeadCommand]:
        """Commands given up on because their outcome could not be recorded (of one tenant, or
        of all), the most recent first."""
        return await self.outbox.dead(tenant_id)

    async def retry_command(self, command_id: int) -> DeadCommand:
        """Put a dead command back: the dispatcher performs it again (with the same idempotency
        key) and records its outcome if its run still waits for it. Raises `NotFound`."""
        found = await self.outbox.revive(command_id, self.clock.now())
        if found is None:
            raise NotFound(f"no dead command {command_id}; `countersign outbox dead` lists them")
        self._dispatcher.wake()
        return found

    # ------------------------------------------------------------ standing grants

    async def apply_grant(self, run: RunState) -> tuple[RunState, Grant | None]:
        """An agent request approved at once by the system when an active standing grant
        covers it: (the run as it now is, the grant), else (`run`, None)."""
        grant = await self._grants.covering(run)
        if grant is None:
            return run, None
        return await self._grants.approve(self.decide, run, grant), grant

    async def active_grants(self, tenant_id: str) -> list[Grant]:
        """The tenant's standing grants in force, the soonest to expire first."""
        return await self._grants.active(tenant_id)

    async def revoke_grant(
        self, tenant_id: str, grant_id: str, actor: str, *, admin: bool = False
    ) -> Grant:
        """End a standing grant now: whoever gave it or an admin may (NotAllowed with code
        `not_granter` otherwise; NotFound when there is none)."""
        return await self._grants.revoke(tenant_id, grant_id, actor, admin=admin)

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
        """`actor` hands their part of a waiting step to `to`; a `reassign` (an admin's) moves
        `from_`'s part (default: the one person the step waits on)."""
        return await self._tasks.delegate(
            tenant_id,
            run_id,
            step_id,
            actor,
            to,
            reason=reason,
            channel=channel,
            admin=admin,
            reassign=reassign,
            from_=from_,
        )

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
        """From `starts` (default now) until `until`, new requests for `user` go to
        `delegate`; with an `Actor` who is not an admin, only their own (`not_admin`)."""
        return await self._tasks.set_away(
            tenant_id, user, delegate, until=until, starts=starts, actor=actor
        )

    async def clear_away(self, tenant_id: str, user: str, actor: Actor | None = None) -> None:
        await self._tasks.clear_away(tenant_id, user, actor)

    async def away_of(self, tenant_id: str, user: str) -> Away | None:
        return await self._tasks.away_of(tenant_id, user)

    async def ask(
        self,
        tenant_id: str,
        run_id: str,
        step_id: str,
        actor: str | Actor,
        question: str,
        *,
        channel: str = "api",
    ) -> RunState:
        return await self._tasks.ask(tenant_id, run_id, step_id, actor, question, channel=channel)

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
    ) -> RunState:
        return await self._tasks.answer(
            tenant_id, run_id, step_id, question_id, actor, text, channel=channel
        )

    async def comment(
        self,
        tenant_id: str,
        run_id: str,
        actor: str | Actor,
        text: str,
        *,
        step_id: str | None = None,
        channel: str = "slack",
    ) -> RunState:
        return await self._tasks.comment(
            tenant_id, run_id, actor, text, step_id=step_id, channel=channel
        )

    async def sla(
        self, tenant_id: str, *, principal: str | None = None, limit: int = 100
    ) -> list[TaskSla]:
        return await self._tasks.sla(tenant_id, principal=principal, limit=limit)

    async def sla_page(
        self,
        tenant_id: str,
        *,
        principal: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SlaPage:
        return await self._tasks.sla_page(
            tenant_id, principal=principal, limit=limit, cursor=cursor
        )

    async def sla_summary(
        self, tenant_id: str, *, principal: str | None = None, cutoff: datetime
    ) -> PendingSummary:
        return await self._tasks.sla_summary(tenant_id, principal=principal, cutoff=cutoff)
