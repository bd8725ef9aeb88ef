"""The ports: what the engine needs from the world, as Protocols whose docstrings are the contract.

`storage/` implements the stores on SQLAlchemy; `engine.testing` implements them in memory for
tests. Every method takes the tenant (Slack team id) and must never return another tenant's data.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.away import Away
from engine.commands import Command, Timer
from engine.decider.decision import Decision
from engine.definitions.models import Schedule, WorkflowDefinition
from engine.events import Event
from engine.grants import Grant
from engine.state import RunState


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


# ---------------------------------------------------------------- definitions


@dataclass(frozen=True)
class StoredDefinition:
    tenant_id: str
    name: str
    version: int
    definition: WorkflowDefinition
    source: str  # the text as applied (YAML or JSON), for show and diff
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True)
class ScheduledDefinition:
    """The latest version of a workflow that carries a `schedule:` (any tenant)."""

    tenant_id: str
    name: str
    version: int
    schedule: Schedule
    created_at: datetime  # when this version was stored: its schedule applies from then
    disabled: bool


@dataclass(frozen=True)
class AppliedDefinition:
    name: str
    version: int
    created: bool  # False: identical to the latest version, nothing was written


class DefinitionStore(Protocol):
    async def apply(
        self, tenant_id: str, definition: WorkflowDefinition, source: str, now: datetime
    ) -> AppliedDefinition:
        """Store `definition` as version N+1 of its name, unless it equals the latest version
        (compared on the validated model, not the text), in which case nothing is written and the
        latest version is returned with created=False. Two concurrent applies of different
        content must not both get the same version number. Applying re-enables a disabled
        workflow only if the content changed."""
        ...

    async def get(self, tenant_id: str, name: str, version: int | None = None) -> StoredDefinition:
        """One version (the latest when None). Raises `NotFound`."""
        ...

    async def latest(self, tenant_id: str) -> list[StoredDefinition]:
        """The latest version of every workflow of the tenant, by name."""
        ...

    async def versions(self, tenant_id: str, name: str) -> list[StoredDefinition]:
        """Every version of one workflow, oldest first. Raises `NotFound`."""
        ...

    async def set_disabled(self, tenant_id: str, name: str, disabled: bool) -> None:
        """Disable (no new runs; running ones go on) or enable a workflow. Raises `NotFound`."""
        ...

    async def scheduled(self) -> list[ScheduledDefinition]:
        """Every workflow of every tenant whose latest version has a `schedule:`, disabled ones
        included, by (tenant, name); one read, for the schedule reconciler."""
        ...


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class RecordedEvent:
    tenant_id: str
    run_id: str
    seq: int  # 1, 2, 3... per run
    event: Event


@dataclass
class RunChange:
    """Everything one decision changes for one run, written in one transaction."""

    state: RunState  # the state after the decision's events (its seq = expected_seq + len(events))
    expected_seq: int  # the run's seq the decision was made on; 0 for a new run
    decision: Decision
    done_command: str | None = None  # outbox key whose outcome this change records
    fired_timer: str | None = None  # timer id this change consumes
    idempotency_key: str | None = None  # for a new run started with an Idempotency-Key
    request_hash: str | None = None  # engine.idempotency.start_hash of that start
    # When set, the change's commands are queued already claimed until then by the process that
    # commits it, which performs them without a claim round trip (see the dispatcher).
    commands_leased_until: datetime | None = None


@dataclass(frozen=True)
class KeyedRun:
    """The run an Idempotency-Key started, and the hash of the request that started it (None
    for runs started before hashes were kept)."""

    run_id: str
    request_hash: str | None


@dataclass(frozen=True)
class PendingTask:
    """A person who still has to act on a step (projection of `RunState.waiting_on`)."""

    tenant_id: str
    run_id: str
    step_id: str
    principal: str
    kind: str  # "approval" | "input"
    workflow: str
    requester: str
    since: datetime


# Where a page of pending tasks ends, in the order of the lists' indexes: (since, run_id, step_id).
# The next page starts after it, so every approver's row of that step is passed over with it.
TaskKey = tuple[datetime, str, str]


@dataclass(frozen=True)
class PendingSummary:
    """Counts over every pending task of a tenant (or of one person), counted in the database:
    a step waiting on several people counts once."""

    tasks: int
    waiting_long: int  # of those, waiting since before the cutoff asked for
    oldest: datetime | None


@dataclass(frozen=True)
class RunPage:
    runs: list[RunState]
    next_cursor: str | None


class RunStore(Protocol):
    async def load(self, tenant_id: str, run_id: str) -> RunState:
        """The run's current state (its projection). Raises `NotFound`, also for another
        tenant's run."""
        ...

    async def get_many(self, tenant_id: str, run_ids: Sequence[str]) -> dict[str, RunState]:
        """The current state of each of these runs that exists in the tenant, by run id, in one
        read (unknown ids, and other tenants' runs, are left out rather than raising)."""
        ...

    async def commit(self, changes: Sequence[RunChange]) -> None:
        """Write the changes atomically: append each change's events with seq expected_seq+1...,
        update the run's projection (state, steps, pending tasks), insert the commands into the
        outbox and the timers (same id: replace), delete `cancel_timers`, mark `done_command`
        done and delete `fired_timer`. If any run's seq is no longer `expected_seq` (someone else
        appended), nothing at all is written and `ConcurrencyConflict` is raised. A new run whose
        (tenant, idempotency_key) exists already raises `DuplicateRun` carrying that run's id.
        A value the store cannot keep (text with a lone surrogate, or what else its database
        refuses, such as a NUL character on PostgreSQL) writes nothing and raises
        `Unrecordable`, naming the field when it can and, in `suspects`, the runs whose
        changes hold such values (empty when unknown), so the others can be written without
        them."""
        ...

    async def events(self, tenant_id: str, run_id: str) -> list[RecordedEvent]:
        """Every event of the run in seq order. Raises `NotFound`."""
        ...

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
        """Runs newest first, filtered; `cursor` continues a previous page. `participant`: only
        the runs that person takes part in (`RunState.participants`)."""
        ...

    async def pending_tasks(
        self,
        tenant_id: str,
        principal: str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        after: TaskKey | None = None,
    ) -> list[PendingTask]:
        """What waits on people (on one principal when given), oldest first; `after`: only the
        steps that come after that one in this order (all of its rows are passed over)."""
        ...

    async def pending_summary(
        self, tenant_id: str, principal: str | None, *, cutoff: datetime
    ) -> PendingSummary:
        """How many steps wait on people (on one principal when given), how many of them since
        before `cutoff`, and since when the oldest has waited."""
        ...

    async def run_for_idempotency_key(self, tenant_id: str, key: str) -> str | None:
        """The run started with this Idempotency-Key, if any."""
        ...

    async def keyed_run(self, tenant_id: str, key: str) -> KeyedRun | None:
        """The run started with this Idempotency-Key, if any, and the hash of that start."""
        ...


# ---------------------------------------------------------------- outbox and timers


@dataclass(frozen=True)
class OutboxItem:
    id: int
    command: Command
    attempts: int  # how many times it was claimed before


@dataclass(frozen=True)
class DeadCommand:
    """A command the dispatcher gave up on (see `Outbox.bury`), for operators."""

    id: int
    tenant_id: str
    run_id: str
    step_id: str | None
    type: str
    attempts: int  # how many times it was claimed
    last_error: str | None
    dead_at: datetime


class Outbox(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Claim up to `limit` commands that are neither done nor dead, whose `available_at` is
        due and that nobody else holds (a claim holds them until now+lease). Concurrent claimers
        never get the same row while its lease lasts (SKIP LOCKED on PostgreSQL). A command
        whose claimer died becomes claimable again when its lease ends: delivery is at least
        once."""
        ...

    async def complete(self, key: str) -> None:
        """Mark a command done without recording anything on the run."""
        ...

    async def complete_many(self, keys: Sequence[str]) -> None:
        """`complete` for several commands in one transaction (the dispatcher's batches)."""
        ...

    async def retry_later(
        self, key: str, at: datetime, error: str, *, counted: bool = True
    ) -> None:
        """Release a claimed command to be tried again at `at` (the handler could not reach its
        service); records the error for operators. Not `counted`: the claim is taken back from
        its attempts (the command was put off, it did not fail)."""
        ...

    async def pending_count(self, now: datetime) -> tuple[int, float]:
        """(commands not done and not dead, age in seconds of the oldest due one) for metrics."""
        ...

    async def bury(self, key: str, at: datetime, error: str) -> None:
        """Give up on a claimed command that is not done (its outcome cannot be recorded):
        it is never claimed again unless `revive`d, and `dead` lists it with `error`."""
        ...

    async def dead(self, tenant_id: str | None = None, limit: int = 100) -> list[DeadCommand]:
        """Buried commands (of one tenant, or of all), the most recently buried first."""
        ...

    async def revive(self, command_id: int, now: datetime) -> DeadCommand | None:
        """Put a buried command back: claimable from `now`, its attempts counted from zero.
        Returns it as it was; None when no buried command has this id."""
        ...


class TimerStore(Protocol):
    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Timer]:
        """Claim timers with due_at <= now that nobody holds; each is held until now+lease.
        The claim is atomic: across processes a timer is handed to one claimer at a time. A timer
        is gone only when a `RunChange.fired_timer` (or `drop`) consumes it, so a claimer that dies
        lets it fire again after the lease: it fires once in effect, because the run's event
        sequence rejects the second firing."""
        ...

    async def drop(self, timer_id: str) -> None:
        """Delete a timer that turned out to be stale."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest due_at of all timers (any tenant), for the wake-up scheduler."""
        ...

    # A scheduled workflow's next fire is one timer of kind "schedule" (engine.schedules).

    async def arm_schedule(self, tenant_id: str, workflow: str, due_at: datetime | None) -> None:
        """Set the workflow's one schedule timer to fire at `due_at` (replacing it, and any claim
        on it); None removes it."""
        ...

    async def advance_schedule(self, timer: Timer, due_at: datetime | None) -> bool:
        """After `timer` fired: move it to `due_at` (None: remove it), unless it was re-armed
        since it was claimed (its due_at changed), in which case nothing is written and False
        is returned."""
        ...

    async def schedules(self, tenant_id: str) -> dict[str, datetime]:
        """workflow -> next fire, for the tenant's armed schedules."""
        ...

    async def all_schedules(self) -> dict[tuple[str, str], datetime]:
        """(tenant, workflow) -> next fire, for the armed schedules of every tenant."""
        ...

    async def arm_schedule_if_missing(
        self, tenant_id: str, workflow: str, due_at: datetime
    ) -> bool:
        """Arm the workflow's schedule timer at `due_at` only if it has none (atomic: of
        concurrent callers one inserts, the others change nothing); an armed timer, held or not,
        is left as it is. True when this call armed it."""
        ...


# ---------------------------------------------------------------- the world


@dataclass(frozen=True)
class Succeeded:
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    error: str
    reason: str = "permanent"  # see triggers.CommandFailed.reason


@dataclass(frozen=True)
class Unavailable:
    """The handler could not reach its service at all; the dispatcher retries the command later
    without recording an attempt on the run: after `retry_after` seconds, doubled for each
    earlier claim. With `retry_at` the command is put off, not failed (e.g. its turn under a rate
    limit is kept for then): it is tried again at exactly that time and the claim is not counted
    as an attempt, so being put off never grows its back-off nor brings it nearer to burial."""

    error: str
    retry_after: float = 5.0
    retry_at: datetime | None = None


Outcome = Succeeded | Failed | Unavailable


class CommandHandler(Protocol):
    async def perform(self, command: Command) -> Outcome:
        """Carry out one command. Must be idempotent on `command.key`: it may be called again
        with the same command after a crash."""
        ...


class Directory(Protocol):
    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        """Turn approver specs (canonical `engine.principal` forms: user ids, S… user groups,
        channels, "email:addr") into principals: Slack user ids, or "email:addr" for people not
        in the workspace. Raises `EngineError` with a clear message for an unknown group."""
        ...

    async def time_zone(self, tenant_id: str, user: str) -> str | None:
        """The user's IANA time zone (Slack: users.info `tz`), or None when unknown (emails): the
        default zone of the settings applies. The runtime caches answers; it calls this only for
        steps with reminders or working-hours timeouts."""
        ...


# ---------------------------------------------------------------- out of office


class AwayStore(Protocol):
    """Out-of-office records, one per (tenant, user)."""

    async def put(self, away: Away) -> None:
        """Store `away`, replacing the user's earlier record."""
        ...

    async def delete(self, tenant_id: str, user: str) -> bool:
        """Remove the user's record; False when there was none."""
        ...

    async def get(self, tenant_id: str, user: str) -> Away | None:
        """The user's record, ended or not; None when there is none."""
        ...

    async def current(self, tenant_id: str, now: datetime) -> list[Away]:
        """Every record of the tenant that has not ended at `now` (started or not yet)."""
        ...


# ---------------------------------------------------------------- standing grants


class GrantStore(Protocol):
    """Standing grants (`engine.grants`), one per granting approval, per tenant."""

    async def put(self, grant: Grant) -> None:
        """Store `grant`; a grant already stored under its id is kept as it is (idempotent)."""
        ...

    async def get(self, tenant_id: str, grant_id: str) -> Grant | None: ...

    async def active(
        self,
        tenant_id: str,
        now: datetime,
        *,
        requester: str | None = None,
        tool: str | None = None,
    ) -> list[Grant]:
        """The tenant's grants neither expired nor revoked at `now` (optionally only one key's
        for one tool), the soonest to expire first."""
        ...

    async def revoke(self, tenant_id: str, grant_id: str, by: str, at: datetime) -> Grant | None:
        """Revoke an active grant; the grant as it now is, or None when there is none. A grant
        revoked before keeps its first revocation."""
        ...


# ---------------------------------------------------------------- secrets


@dataclass(frozen=True)
class SecretInfo:
    """A secret as listed: its name and when it was set, never its value."""

    name: str
    updated_at: datetime | None  # None for one that comes from the settings
    source: str = "stored"  # "stored" (set at run time) or "settings" (SECRETS / TENANT_SECRETS)


class SecretStore(Protocol):
    """Each tenant's `{{ secrets.NAME }}` values, kept encrypted at rest."""

    async def put(self, tenant_id: str, name: str, value: str, now: datetime) -> None:
        """Store (or replace) the tenant's secret `name`."""
        ...

    async def delete(self, tenant_id: str, name: str) -> bool:
        """Remove it; False when the tenant had no such secret."""
        ...

    async def listed(self, tenant_id: str) -> list[SecretInfo]:
        """The tenant's secrets by name, without their values (nothing is decrypted)."""
        ...

    async def values(self, tenant_id: str, names: Collection[str] | None) -> dict[str, str]:
        """The values of the tenant's secrets among `names` (None: all of them); names it does
        not have are left out. Raises `SecretUnreadable` for one that cannot be decrypted."""
        ...


@dataclass(frozen=True)
class TaskSla:
    """Where one pending human task stands: how long it has waited and what comes next.
    "Waited" is now - `waiting_since`."""

    tenant_id: str
    run_id: str
    workflow: str
    version: int
    step_id: str
    step_title: str
    kind: str  # "approval" | "input"
    approvers: list[str]  # who still has to act
    requester: str
    waiting_since: datetime
    escalation_level: int
    next_reminder_at: datetime | None
    escalates_at: datetime | None
    times_out_at: datetime | None
    paused: bool
    open_question: str | None
    summary: str = ""  # what the run is about (RunState.summary)


@dataclass(frozen=True)
class SlaPage:
    """A page of the SLA view; `next_cursor` continues it (None: nothing after it)."""

    tasks: list[TaskSla]
    next_cursor: str | None
