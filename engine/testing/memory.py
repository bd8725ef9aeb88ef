"""In-memory implementations of the ports, with the semantics of `storage/`, for tests.

Nothing here awaits between reading and writing, so every method is atomic on one event loop,
which is what the database's transactions give the SQL stores. Values handed in or out are
copied, so a caller mutating a returned state cannot change what is stored.

They share `engine.pending`, `engine.cursors` and `engine.changes` with `storage/`, so both
project pending tasks, page runs and check changes identically.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from engine import recordable, schedules
from engine.away import Away
from engine.changes import check_change
from engine.commands import Command, Timer
from engine.cursors import decode_cursor, encode_cursor
from engine.definitions.models import WorkflowDefinition
from engine.errors import ConcurrencyConflict, DuplicateRun, NotFound
from engine.grants import Grant
from engine.pending import pending_rows
from engine.ports import (
    AppliedDefinition,
    DeadCommand,
    KeyedRun,
    OutboxItem,
    PendingSummary,
    PendingTask,
    RecordedEvent,
    RunChange,
    RunPage,
    ScheduledDefinition,
    SecretInfo,
    StoredDefinition,
    TaskKey,
)
from engine.state import RunState


class ManualClock:
    """A clock that only moves when told to (the `Clock` port for tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time")
        self._now = at


# ---------------------------------------------------------------- definitions


@dataclass
class _Workflow:
    versions: list[StoredDefinition]
    disabled: bool = False


class MemoryDefinitionStore:
    def __init__(self) -> None:
        self._workflows: dict[tuple[str, str], _Workflow] = {}

    async def apply(
        self, tenant_id: str, definition: WorkflowDefinition, source: str, now: datetime
    ) -> AppliedDefinition:
        wf = self._workflows.get((tenant_id, definition.name))
        if wf is not None and wf.versions[-1].definition == definition:
            return AppliedDefinition(definition.name, wf.versions[-1].version, created=False)
        if wf is None:
            wf = self._workflows[(tenant_id, definition.name)] = _Workflow(versions=[])
        version = len(wf.versions) + 1
        wf.versions.append(
            StoredDefinition(tenant_id, definition.name, version, definition, source, now)
        )
        wf.disabled = False
        return AppliedDefinition(definition.name, version, created=True)

    def _workflow(self, tenant_id: str, name: str) -> _Workflow:
        wf = self._workflows.get((tenant_id, name))
        if wf is None:
            raise NotFound(f"no workflow named {name!r} in this workspace")
        return wf

    async def get(self, tenant_id: str, name: str, version: int | None = None) -> StoredDefinition:
        wf = self._workflow(tenant_id, name)
        if version is None:
            found = wf.versions[-1]
        elif 1 <= version <= len(wf.versions):
            found = wf.versions[version - 1]
        else:
            raise NotFound(f"workflow {name!r} has no version {version}")
        return replace(found, disabled=wf.disabled)

    async def latest(self, tenant_id: str) -> list[StoredDefinition]:
        return [
            replace(wf.versions[-1], disabled=wf.disabled)
            for (tenant, _), wf in sorted(self._workflows.items())
            if tenant == tenant_id
        ]

    async def versions(self, tenant_id: str, name: str) -> list[StoredDefinition]:
        wf = self._workflow(tenant_id, name)
        return [replace(v, disabled=wf.disabled) for v in wf.versions]

    async def set_disabled(self, tenant_id: str, name: str, disabled: bool) -> None:
        self._workflow(tenant_id, name).disabled = disabled

    async def scheduled(self) -> list[ScheduledDefinition]:
        found = []
        for (tenant, name), wf in sorted(self._workflows.items()):
            latest = wf.versions[-1]
            if latest.definition.schedule is not None:
                found.append(
                    ScheduledDefinition(
                        tenant,
                        name,
                        latest.version,
                        latest.definition.schedule.model_copy(deep=True),
                        latest.created_at,
                        wf.disabled,
                    )
                )
        return found


# ---------------------------------------------------------------- outbox and timers


@dataclass
class _OutboxRow:
    id: int
    command: Command
    available_at: datetime
    locked_until: datetime | None = None
    attempts: int = 0
    done: bool = False
    last_error: str | None = None
    dead_at: datetime | None = None


class MemoryOutbox:
    def __init__(self) -> None:
        self._rows: dict[int, _OutboxRow] = {}
        self._by_key: dict[str, _OutboxRow] = {}
        self._next_id = 1

    def _add(
        self, command: Command, available_at: datetime, leased_until: datetime | None = None
    ) -> None:
        if command.key in self._by_key:
            return  # the same command again (same idempotency key): already queued
        row = _OutboxRow(self._next_id, command, available_at)
        if leased_until is not None:  # claimed by the committing process (see RunChange)
            row.locked_until, row.attempts = leased_until, 1
        self._next_id += 1
        self._rows[row.id] = row
        self._by_key[command.key] = row

    def _mark_done(self, key: str) -> None:
        row = self._by_key.get(key)
        if row is not None:
            row.done = True

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
        out: list[OutboxItem] = []
        for row in self._rows.values():  # in id order: dicts keep insertion order
            if len(out) >= limit:
                break
            if row.done or row.dead_at is not None or row.available_at > now:
                continue
            if row.locked_until is not None and row.locked_until > now:
                continue
            out.append(OutboxItem(row.id, _copy_command(row.command), row.attempts))
            row.locked_until = now + lease
            row.attempts += 1
        return out

    async def complete(self, key: str) -> None:
        self._mark_done(key)

    async def complete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._mark_done(key)

    async def retry_later(
        self, key: str, at: datetime, error: str, *, counted: bool = True
    ) -> None:
        row = self._by_key.get(key)
        if row is not None and not row.done:
            row.available_at, row.locked_until, row.last_error = at, None, error
            if not counted:
                row.attempts = max(0, row.attempts - 1)

    async def pending_count(self, now: datetime) -> tuple[int, float]:
        open_rows = [r for r in self._rows.values() if not r.done and r.dead_at is None]
        due = [r.available_at for r in open_rows if r.available_at <= now]
        age = (now - min(due)).total_seconds() if due else 0.0
        return len(open_rows), age

    async def bury(self, key: str, at: datetime, error: str) -> None:
        row = self._by_key.get(key)
        if row is not None and not row.done:
            row.dead_at, row.locked_until, row.last_error = at, None, error

    async def dead(self, tenant_id: str | None = None, limit: int = 100) -> list[DeadCommand]:
        rows = [
            r
            for r in self._rows.values()
            if r.dead_at is not None and not r.done and tenant_id in (None, r.command.tenant_id)
        ]
        rows.sort(key=lambda r: (r.dead_at, r.id), reverse=True)
        return [_dead(r) for r in rows[:limit]]

    async def revive(self, command_id: int, now: datetime) -> DeadCommand | None:
        row = self._rows.get(command_id)
        if row is None or row.dead_at is None or row.done:
            return None
        found = _dead(row)
        row.dead_at, row.available_at, row.locked_until, row.attempts = None, now, None, 0
        return found


def _dead(row: _OutboxRow) -> DeadCommand:
    assert row.dead_at is not None
    command = row.command
    return DeadCommand(
        id=row.id,
        tenant_id=command.tenant_id,
        run_id=command.run_id,
        step_id=getattr(command, "step_id", None),
        type=command.type,
        attempts=row.attempts,
        last_error=row.last_error,
        dead_at=row.dead_at,
    )


def _copy_command(command: Command) -> Command:
    return command.model_copy(deep=True)


@dataclass
class _TimerRow:
    timer: Timer
    locked_until: datetime | None = None


class MemoryTimerStore:
    def __init__(self) -> None:
        self._rows: dict[str, _TimerRow] = {}

    def _arm(self, timer: Timer) -> None:
        self._rows[timer.id] = _TimerRow(timer)  # same id: replaced, and no longer held

    def _delete(self, tenant_id: str, timer_id: str) -> None:
        row = self._rows.get(timer_id)
        if row is not None and row.timer.tenant_id == tenant_id:
            del self._rows[timer_id]

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Timer]:
        due = sorted(
            (r for r in self._rows.values() if r.timer.due_at <= now and _free(r, now)),
            key=lambda r: (r.timer.due_at, r.timer.id),
        )[:limit]
        for row in due:
            row.locked_until = now + lease
        return [row.timer for row in due]

    async def drop(self, timer_id: str) -> None:
        self._rows.pop(timer_id, None)

    async def next_due(self) -> datetime | None:
        """The earliest moment a timer can be claimed: its due_at, or the end of the lease of a
        claimed one (so a wake-up scheduler never spins on a timer someone holds)."""
        times = [max(r.timer.due_at, r.locked_until or r.timer.due_at) for r in self._rows.values()]
        return min(times, default=None)

    async def arm_schedule(self, tenant_id: str, workflow: str, due_at: datetime | None) -> None:
        timer_id = schedules.timer_id(tenant_id, workflow)
        self._rows.pop(timer_id, None)
        if due_at is not None:
            self._arm(schedules.timer(tenant_id, workflow, due_at))

    async def advance_schedule(self, timer: Timer, due_at: datetime | None) -> bool:
        row = self._rows.get(timer.id)
        if row is None or row.timer.due_at != timer.due_at:
            return False
        del self._rows[timer.id]
        if due_at is not None:
            self._arm(timer.model_copy(update={"due_at": due_at}))
        return True

    async def schedules(self, tenant_id: str) -> dict[str, datetime]:
        return {
            r.timer.step_id or "": r.timer.due_at
            for r in self._rows.values()
            if r.timer.kind == schedules.TIMER_KIND and r.timer.tenant_id == tenant_id
        }

    async def all_schedules(self) -> dict[tuple[str, str], datetime]:
        return {
            (r.timer.tenant_id, r.timer.step_id or ""): r.timer.due_at
            for r in self._rows.values()
            if r.timer.kind == schedules.TIMER_KIND
        }

    async def arm_schedule_if_missing(
        self, tenant_id: str, workflow: str, due_at: datetime
    ) -> bool:
        if schedules.timer_id(tenant_id, workflow) in self._rows:
            return False
        self._arm(schedules.timer(tenant_id, workflow, due_at))
        return True


def _free(row: _TimerRow, now: datetime) -> bool:
    return row.locked_until is None or row.locked_until <= now


# ---------------------------------------------------------------- runs


class MemoryRunStore:
    def __init__(self, outbox: MemoryOutbox, timers: MemoryTimerStore) -> None:
        self._outbox = outbox
        self._timers = timers
        self._states: dict[tuple[str, str], RunState] = {}
        self._events: dict[tuple[str, str], list[RecordedEvent]] = {}
        self._keys: dict[tuple[str, str], KeyedRun] = {}  # (tenant, idempotency key) -> run

    async def load(self, tenant_id: str, run_id: str) -> RunState:
        state = self._states.get((tenant_id, run_id))
        if state is None:
            raise NotFound(f"no run {run_id!r} in this workspace")
        return state.model_copy(deep=True)

    async def get_many(self, tenant_id: str, run_ids: Sequence[str]) -> dict[str, RunState]:
        return {
            run_id: state.model_copy(deep=True)
            for run_id in dict.fromkeys(run_ids)
            if (state := self._states.get((tenant_id, run_id))) is not None
        }

    async def commit(self, changes: Sequence[RunChange]) -> None:
        # Check everything first, so a refused batch writes nothing.
        seqs: dict[tuple[str, str], int] = {}
        keys: set[tuple[str, str]] = set()
        for change in changes:
            check_change(change)
            recordable.check(change)  # what the SQL stores could not write, refused here too
            run = (change.state.tenant_id, change.state.run_id)
            current = seqs.get(run, self._states[run].seq if run in self._states else 0)
            if change.expected_seq == 0 and change.idempotency_key is not None:
                key = (run[0], change.idempotency_key)
                existing = self._keys.get(key)
                if existing is not None or key in keys:
                    raise DuplicateRun(existing.run_id if existing else run[1])
                keys.add(key)
            if current != change.expected_seq:
                raise ConcurrencyConflict()
            seqs[run] = change.state.seq
        for change in changes:
            self._write(change)

    def _write(self, change: RunChange) -> None:
        state = change.state
        run = (state.tenant_id, state.run_id)
        recorded = self._events.setdefault(run, [])
        for offset, event in enumerate(change.decision.events, start=1):
            recorded.append(RecordedEvent(run[0], run[1], change.expected_seq + offset, event))
        self._states[run] = state.model_copy(deep=True)
        if change.expected_seq == 0 and change.idempotency_key is not None:
            self._keys[(run[0], change.idempotency_key)] = KeyedRun(run[1], change.request_hash)
        for command in change.decision.commands:
            self._outbox._add(
                _copy_command(command), state.updated_at, change.commands_leased_until
            )
        if change.fired_timer is not None:
            self._timers._delete(run[0], change.fired_timer)
        for timer_id in change.decision.cancel_timers:
            self._timers._delete(run[0], timer_id)
        for timer in change.decision.timers:
            self._timers._arm(timer)
        if change.done_command is not None:
            self._outbox._mark_done(change.done_command)

    async def events(self, tenant_id: str, run_id: str) -> list[RecordedEvent]:
        recorded = self._events.get((tenant_id, run_id))
        if recorded is None:
            raise NotFound(f"no run {run_id!r} in this workspace")
        return list(recorded)

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
        after = decode_cursor(cursor) if cursor is not None else None
        found = sorted(
            (
                s
                for (tenant, _), s in self._states.items()
                if tenant == tenant_id
                and (status is None or s.status == status)
                and (workflow is None or s.workflow == workflow)
                and (requester is None or s.requester == requester)
                and (participant is None or participant in s.participants())
                and (after is None or (s.started_at, s.run_id) < after)
            ),
            key=lambda s: (s.started_at, s.run_id),
            reverse=True,
        )
        page = found[:limit]
        more = len(found) > limit and bool(page)
        return RunPage(
            runs=[s.model_copy(deep=True) for s in page],
            next_cursor=encode_cursor(page[-1].started_at, page[-1].run_id) if more else None,
        )

    async def pending_tasks(
        self,
        tenant_id: str,
        principal: str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        after: TaskKey | None = None,
    ) -> list[PendingTask]:
        rows = [
            row
            for (tenant, _), state in self._states.items()
            if tenant == tenant_id
            for row in pending_rows(state)
            if principal is None or row.principal == principal
            if after is None or (row.since, row.run_id, row.step_id) > after
        ]
        rows.sort(key=lambda r: (r.since, r.run_id, r.step_id, r.principal))
        return rows[offset : offset + limit]

    async def pending_summary(
        self, tenant_id: str, principal: str | None, *, cutoff: datetime
    ) -> PendingSummary:
        steps = {
            (row.run_id, row.step_id): row.since
            for (tenant, _), state in self._states.items()
            if tenant == tenant_id
            for row in pending_rows(state)
            if principal is None or row.principal == principal
        }
        since = list(steps.values())
        return PendingSummary(
            tasks=len(since),
            waiting_long=sum(1 for at in since if at < cutoff),
            oldest=min(since, default=None),
        )

    async def run_for_idempotency_key(self, tenant_id: str, key: str) -> str | None:
        keyed = self._keys.get((tenant_id, key))
        return None if keyed is None else keyed.run_id

    async def keyed_run(self, tenant_id: str, key: str) -> KeyedRun | None:
        return self._keys.get((tenant_id, key))


class MemorySecretStore:
    """Secrets in plain memory (the SQL store encrypts them); same contract otherwise."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[str, datetime]] = {}

    async def put(self, tenant_id: str, name: str, value: str, now: datetime) -> None:
        self._rows[(tenant_id, name)] = (value, now)

    async def delete(self, tenant_id: str, name: str) -> bool:
        return self._rows.pop((tenant_id, name), None) is not None

    async def listed(self, tenant_id: str) -> list[SecretInfo]:
        return sorted(
            (SecretInfo(name, at) for (t, name), (_, at) in self._rows.items() if t == tenant_id),
            key=lambda s: s.name,
        )

    async def values(self, tenant_id: str, names: Collection[str] | None) -> dict[str, str]:
        return {
            name: value
            for (t, name), (value, _) in self._rows.items()
            if t == tenant_id and (names is None or name in names)
        }


class MemoryAwayStore:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Away] = {}

    async def put(self, away: Away) -> None:
        self._rows[(away.tenant_id, away.user)] = away

    async def delete(self, tenant_id: str, user: str) -> bool:
        return self._rows.pop((tenant_id, user), None) is not None

    async def get(self, tenant_id: str, user: str) -> Away | None:
        return self._rows.get((tenant_id, user))

    async def current(self, tenant_id: str, now: datetime) -> list[Away]:
        return sorted(
            (a for (t, _), a in self._rows.items() if t == tenant_id and a.until > now),
            key=lambda a: a.user,
        )


class MemoryGrantStore:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Grant] = {}

    async def put(self, grant: Grant) -> None:
        self._rows.setdefault((grant.tenant_id, grant.grant_id), grant)

    async def get(self, tenant_id: str, grant_id: str) -> Grant | None:
        return self._rows.get((tenant_id, grant_id))

    async def active(
        self,
        tenant_id: str,
        now: datetime,
        *,
        requester: str | None = None,
        tool: str | None = None,
    ) -> list[Grant]:
        found = [
            g
            for (t, _), g in self._rows.items()
            if t == tenant_id
            and g.active(now)
            and (requester is None or g.requester == requester)
            and (tool is None or g.tool == tool)
        ]
        return sorted(found, key=lambda g: (g.expires_at, g.grant_id))

    async def revoke(self, tenant_id: str, grant_id: str, by: str, at: datetime) -> Grant | None:
        grant = self._rows.get((tenant_id, grant_id))
        if grant is None:
            return None
        if grant.revoked_at is None:
            grant = self._rows[(tenant_id, grant_id)] = grant.revoked(by, at)
        return grant


class MemoryStorage:
    """The stores sharing one in-memory database, shaped like `storage.Storage`."""

    def __init__(self) -> None:
        self.aways = MemoryAwayStore()
        self.grants = MemoryGrantStore()
        self.secrets = MemorySecretStore()
        self.definitions = MemoryDefinitionStore()
        self.outbox = MemoryOutbox()
        self.timers = MemoryTimerStore()
        self.runs = MemoryRunStore(self.outbox, self.timers)

    async def close(self) -> None:
        """Nothing to release; here so code can close any storage the same way."""
