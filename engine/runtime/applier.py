"""Applies triggers to runs: load the state and the pinned definition, `decide`, fold the events,
commit. Optimistic concurrency makes this safe across processes: a commit on a run someone else
changed meanwhile fails as a whole (`ConcurrencyConflict`), and we reload and decide again.

Within one process, changes to one run are serialised by a per-run lock, so concurrent requests
(two approvers clicking at once) queue up instead of conflicting. People's requests for one run
that arrive while it is being changed are then decided one after another on the state in memory
and committed together, as one change, each caller still getting its own result (its state or
its refusal): 200 approvers clicking at once cost a handful of commits, not 200. A lone request
goes straight through.

Recently committed states are cached: the hot path (an outcome arriving for a run this process
just advanced) then costs one commit and no read. A cached state can only be older than the
stored one, never newer, so any surprise (a conflict, an error, nothing to do) is re-checked
against a fresh load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from engine.decider import decide, fold
from engine.decider.decision import Decision
from engine.decider.env import MissingTimeZones
from engine.definitions.models import WorkflowDefinition
from engine.errors import ConcurrencyConflict, EngineError, Unrecordable
from engine.events import FINAL_STATUSES, Event
from engine.ports import (
    Clock,
    DefinitionStore,
    Outbox,
    RunChange,
    RunStore,
    StoredDefinition,
    TimerStore,
)
from engine.runtime.environment import Environment
from engine.runtime.group_commit import GroupCommitter, commit_apart
from engine.state import RunState
from engine.triggers import Trigger

log = logging.getLogger(__name__)

RunKey = tuple[str, str]  # (tenant_id, run_id)
PREFETCH_CONCURRENCY = 8  # loads at once: a share of the connection pool, not all of it
YIELD_EVERY = 20  # decisions in a batch between two chances for other tasks to run
Listener = Callable[[RunState, list[Event]], Awaitable[None]]
CommitHook = Callable[[Sequence[RunChange]], None]


@dataclass(frozen=True)
class Work:
    """A trigger for one run, and what applying it consumes (an outbox row or a timer)."""

    tenant_id: str
    run_id: str
    trigger: Trigger
    done_command: str | None = None
    fired_timer: str | None = None

    @property
    def run(self) -> RunKey:
        return (self.tenant_id, self.run_id)


_Request = tuple[Work, asyncio.Future[RunState]]  # a person's request and who awaits it


class _RunLocks:
    """One asyncio.Lock per run while someone uses it; several are taken in sorted order, so two
    batches can never wait on each other."""

    def __init__(self) -> None:
        self._locks: dict[RunKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, runs: Iterable[RunKey]) -> AsyncIterator[None]:
        ordered = sorted(set(runs))
        for run in ordered:
            lock, users = self._locks.get(run, (None, 0))
            self._locks[run] = (lock or asyncio.Lock(), users + 1)
        taken: list[asyncio.Lock] = []
        try:
            for run in ordered:
                lock = self._locks[run][0]
                await lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in taken:
                lock.release()
            for run in ordered:
                lock, users = self._locks[run]
                if users == 1:
                    del self._locks[run]
                else:
                    self._locks[run] = (lock, users - 1)


class RunApplier:
    def __init__(
        self,
        definitions: DefinitionStore,
        runs: RunStore,
        outbox: Outbox,
        timers: TimerStore,
        clock: Clock,
        *,
        max_attempts: int = 10,
        cache_size: int = 10_000,
        latest_ttl: float = 2.0,
        command_lease: timedelta | None = None,
        environment: Environment | None = None,
    ) -> None:
        self.definitions = definitions
        self.runs = runs
        self.outbox = outbox
        self.timers = timers
        self.clock = clock
        self.max_attempts = max_attempts
        self.listeners: list[Listener] = []
        self.commit_hooks: list[CommitHook] = []
        self._locks = _RunLocks()
        self._queues: dict[RunKey, list[_Request]] = {}  # requests waiting for their run
        self._drains: set[asyncio.Task[None]] = set()  # kept referenced while they run
        self._group = GroupCommitter(runs)
        self._states: OrderedDict[RunKey, RunState] = OrderedDict()
        self._cache_size = cache_size
        # Versions never change once stored, so a definition is cached for good. Which version
        # is the latest (and whether it is disabled) can change in another process: that is
        # cached briefly, and dropped at once when this process applies or disables.
        self._definitions: dict[tuple[str, str, int], WorkflowDefinition] = {}
        self._latest: dict[tuple[str, str], tuple[float, StoredDefinition]] = {}
        self.latest_ttl = latest_ttl
        self.environment = environment  # working hours, zones, out of office
        # Set: commands are queued already claimed by this process for this long, and handed
        # straight to its dispatcher by a commit hook (no claim round trip).
        self.command_lease = command_lease

    # ------------------------------------------------------------ reading

    async def definition(self, tenant_id: str, name: str, version: int) -> WorkflowDefinition:
        key = (tenant_id, name, version)
        found = self._definitions.get(key)
        if found is None:
            found = (await self.definitions.get(tenant_id, name, version)).definition
            self._definitions[key] = found
        return found

    async def latest(self, tenant_id: str, name: str) -> StoredDefinition:
        """The latest version of a workflow, as seen at most `latest_ttl` seconds ago."""
        key = (tenant_id, name)
        cached = self._latest.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.latest_ttl:
            return cached[1]
        found = await self.definitions.get(tenant_id, name)
        self._latest[key] = (time.monotonic(), found)
        self._definitions[(tenant_id, name, found.version)] = found.definition
        return found

    def definitions_changed(self, tenant_id: str, name: str | None = None) -> None:
        """This process applied or disabled a workflow: read the latest version again."""
        for key in [k for k in self._latest if k[0] == tenant_id and name in (None, k[1])]:
            del self._latest[key]

    async def _state(self, run: RunKey, fresh: bool) -> tuple[RunState, bool]:
        """The run's state and whether it came from the cache."""
        if not fresh:
            cached = self._states.get(run)
            if cached is not None:
                self._states.move_to_end(run)
                return cached, True
        state = await self.runs.load(*run)
        self._remember(state)
        return state, False

    def _remember(self, state: RunState) -> None:
        run = (state.tenant_id, state.run_id)
        if state.status in FINAL_STATUSES:
            self._states.pop(run, None)  # nothing more will happen to it here
            return
        self._states[run] = state
        self._states.move_to_end(run)
        while len(self._states) > self._cache_size:
            self._states.popitem(last=False)

    def forget(self, run: RunKey) -> None:
        self._states.pop(run, None)

    # ------------------------------------------------------------ deciding

    async def decide(
        self,
        tenant_id: str,
        definition: WorkflowDefinition,
        state: RunState | None,
        trigger: Trigger,
    ) -> Decision:
        """`decide` with the environment; time zones it lacks are looked up (only then) and the
        trigger decided again with them."""
        now = self.clock.now()
        if self.environment is None:
            return decide(definition, state, trigger, now)
        env = await self.environment.get(tenant_id)
        try:
            return decide(definition, state, trigger, now, env)
        except MissingTimeZones as missing:
            await self.environment.learn_zones(tenant_id, missing.principals)
            return decide(definition, state, trigger, now, replace(env, strict_zones=False))

    async def _prepare(self, work: Work, fresh: bool) -> tuple[RunState, RunChange | None]:
        """Decide `work` on the run's state; None when it changes nothing. Raises what the
        decider raises; with a cached state, any doubt is settled on a fresh one first."""
        state, cached = await self._state(work.run, fresh)
        definition = await self.definition(state.tenant_id, state.workflow, state.version)
        try:
            decision = await self.decide(state.tenant_id, definition, state, work.trigger)
        except EngineError:
            if cached:
                return await self._prepare(work, fresh=True)
            raise
        if not decision:
            if cached:
                return await self._prepare(work, fresh=True)
            return state, None
        change = RunChange(
            state=decision.state or fold(state, decision.events),
            expected_seq=state.seq,
            decision=decision,
            done_command=work.done_command,
            fired_timer=work.fired_timer,
            commands_leased_until=self._lease_end(decision.commands),
        )
        return state, change

    def _lease_end(self, commands: Sequence[object]) -> datetime | None:
        if self.command_lease is None or not commands:
            return None
        return self.clock.now() + self.command_lease

    async def apply(self, work: Work) -> RunState:
        """Apply one trigger (a person's request); raises the decider's refusal as is. Requests
        for the run that queue up meanwhile are applied with it, in one commit (see `_drain`)."""
        if work.done_command is not None or work.fired_timer is not None:
            # A change consumes at most one command or timer: such work goes alone.
            async with self._locks.hold([work.run]):
                return await self._apply_unlocked(work)
        done: asyncio.Future[RunState] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(work.run)
        if queue is not None:
            queue.append((work, done))
        else:
            self._queues[work.run] = [(work, done)]
            # Not in the caller's task: the others' requests go on if it is cancelled.
            drain = asyncio.create_task(self._drain(work.run))
            self._drains.add(drain)
            drain.add_done_callback(self._drained)
        return await done

    async def _drain(self, run: RunKey) -> None:
        """Apply the run's queued requests, all those waiting at each turn together, until none
        is left. A request whose caller gave up before its turn is dropped."""
        queue = self._queues[run]
        batch: list[_Request] = []
        try:
            while queue:
                async with self._locks.hold([run]):
                    batch = [request for request in queue if not request[1].done()]
                    queue.clear()
                    if not batch:
                        continue
                    try:
                        results = await self._apply_together(run, [w for w, _ in batch])
                    except Exception as exc:  # the run could not be read: all of them fail so
                        results = [exc] * len(batch)
                    for (_, done), result in zip(batch, results, strict=True):
                        _settle(done, result)
        finally:
            del self._queues[run]  # in the same step as the empty check: nothing is stranded
            for _, done in [*batch, *queue]:
                done.cancel()  # only left unsettled when this task itself is cancelled

    def _drained(self, drain: asyncio.Task[None]) -> None:
        self._drains.discard(drain)
        if not drain.cancelled() and drain.exception() is not None:
            log.error("applying queued requests failed", exc_info=drain.exception())

    async def _apply_together(
        self, run: RunKey, works: Sequence[Work]
    ) -> list[RunState | Exception]:
        """Decide `works` one after another on the run's state and commit them as one change.
        Each gets the state right after its own decision, or its own refusal (the state is then
        as before it); a cached state in doubt is read again, as in `_prepare`."""
        fresh = False
        for _ in range(self.max_attempts):
            base, cached = await self._state(run, fresh)
            definition = await self.definition(base.tenant_id, base.workflow, base.version)
            state, combined = base, Decision()
            decided: list[int] = []  # which of `works` changed the run
            results: list[RunState | Exception] = []
            doubt = False
            for i, work in enumerate(works):
                if i and i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # CPU only: let acks and other runs in between
                try:
                    decision = await self.decide(base.tenant_id, definition, state, work.trigger)
                except EngineError as exc:
                    results.append(exc)
                    doubt = True
                    continue
                except Exception as exc:  # a bug: this request fails, the others go on
                    log.exception("could not apply %s to run %s", _what(work), work.run_id)
                    results.append(exc)
                    continue
                if decision:
                    state = decision.state or fold(state, decision.events)
                    combined = combined.then(decision)
                    decided.append(i)
                else:
                    doubt = True
                results.append(state)
            if doubt and cached:
                fresh = True
                continue
            if not decided:
                return results
            change = RunChange(
                state=state,
                expected_seq=base.seq,
                decision=combined,
                commands_leased_until=self._lease_end(combined.commands),
            )
            try:
                await self._group.commit(change)
            except ConcurrencyConflict:
                self.forget(run)
                fresh = True
                continue
            except Exception as exc:
                if len(decided) == 1:
                    results[decided[0]] = exc
                    return results
                # One of them the store cannot take (e.g. `Unrecordable`): only it must fail.
                for i in decided:
                    results[i] = await _outcome(self._apply_unlocked(works[i]))
                return results
            await self._committed([change])
            return results
        return [_kept_changing(run[1], self.max_attempts) for _ in works]

    async def _apply_unlocked(self, work: Work) -> RunState:
        fresh = False
        for _ in range(self.max_attempts):
            state, change = await self._prepare(work, fresh)
            if change is None:
                await self._consume(work)
                return state
            try:
                await self._group.commit(change)
            except ConcurrencyConflict:
                self.forget(work.run)
                fresh = True
                continue
            await self._committed([change])
            return change.state
        raise _kept_changing(work.run_id, self.max_attempts)

    async def commit_new(self, change: RunChange) -> RunState:
        """Commit the first change of a new run (raises `DuplicateRun` for a reused key)."""
        if change.commands_leased_until is None:
            change.commands_leased_until = self._lease_end(change.decision.commands)
        await self._group.commit(change)
        await self._committed([change])
        return change.state

    async def _consume(self, work: Work) -> None:
        """Retire what a trigger that changed nothing came from, so it is not delivered again."""
        if work.done_command is not None:
            await self.outbox.complete(work.done_command)
        if work.fired_timer is not None:
            await self.timers.drop(work.fired_timer)

    # ------------------------------------------------------------ batches

    async def apply_batch(self, works: Sequence[Work]) -> list[tuple[Work, Exception]]:
        """Apply outcomes and timer firings for many runs, committing each round of at most one
        change per run in one transaction. Work the run no longer expects (a stale timer, an
        outcome for a finished run) is consumed. Returns the work that could not be applied, each
        with its own reason (one change the store refuses fails alone: see `commit_apart`), for
        the caller to hand back later; nothing is ever dropped silently."""
        failures: list[tuple[Work, Exception]] = []
        pending = list(works)
        while pending:
            round_: list[Work] = []
            later: list[Work] = []
            seen: set[RunKey] = set()
            for work in pending:
                (later if work.run in seen else round_).append(work)
                seen.add(work.run)
            async with self._locks.hold(seen):
                await self._apply_round(round_, failures)
            pending = later
        return failures

    async def _prefetch(self, runs: Iterable[RunKey]) -> None:
        """Load the states this process does not hold, side by side rather than one by one
        (after a restart, or for runs another process advanced). A run that cannot be loaded
        is left to `_prepare`, which reports it."""
        missing = [run for run in runs if run not in self._states]
        if not missing:
            return
        slots = asyncio.Semaphore(PREFETCH_CONCURRENCY)

        async def load(run: RunKey) -> RunState:
            async with slots:
                return await self.runs.load(*run)

        loaded = await asyncio.gather(*(load(run) for run in missing), return_exceptions=True)
        for state in loaded:
            if isinstance(state, RunState):
                self._remember(state)

    async def _apply_round(
        self, works: list[Work], failures: list[tuple[Work, Exception]], *, again: bool = True
    ) -> None:
        await self._prefetch(w.run for w in works)
        changes: list[RunChange] = []
        for i, work in enumerate(works, start=1):
            if i % YIELD_EVERY == 0:
                # Deciding a big batch is CPU only: let a person's decision in between.
                await asyncio.sleep(0)
            try:
                _, change = await self._prepare(work, fresh=False)
            except EngineError as exc:
                log.warning("%s for run %s is stale: %s", _what(work), work.run_id, exc)
                await self._settle(work, failures, self._consume(work))
                continue
            except Exception as exc:
                log.exception("could not apply %s to run %s", _what(work), work.run_id)
                failures.append((work, exc))
                continue
            if change is None:
                await self._settle(work, failures, self._consume(work))
            else:
                changes.append(change)
        if not changes:
            return
        # One transaction for the round; only a failure pays for finding whose change it was.
        results = await commit_apart(self.runs, changes)
        committed = [c for c, r in zip(changes, results, strict=True) if r is None]
        if committed:
            await self._committed(committed)
        by_run = {w.run: w for w in works}
        redo: list[Work] = []
        broken: list[Exception] = []
        for change, result in zip(changes, results, strict=True):
            work = by_run[_run(change)]
            if isinstance(result, ConcurrencyConflict):
                self.forget(work.run)  # this process's cached state was stale
                redo.append(work)
                continue
            if isinstance(result, Unrecordable):
                log.warning("%s for run %s cannot be stored: %s", _what(work), work.run_id, result)
            elif result is not None:
                broken.append(result)
            if result is not None:
                failures.append((work, result))
        if broken:
            log.error("could not commit %d run changes", len(broken), exc_info=broken[0])
        if not redo:
            return
        # Another process moved some of these runs. Decide them again on fresh states; if that
        # conflicts too, go one by one.
        if again:
            log.debug("a batch of %d run changes conflicted; deciding it again", len(redo))
            await self._apply_round(redo, failures, again=False)
            return
        log.debug("a batch of %d run changes conflicted again; one by one", len(redo))
        for work in redo:
            await self._settle(work, failures, self._apply_unlocked(work))

    async def _settle(
        self, work: Work, failures: list[tuple[Work, Exception]], action: Awaitable[object]
    ) -> None:
        try:
            await action
        except (ConcurrencyConflict, Unrecordable) as exc:  # not stale: it could not be written
            failures.append((work, exc))
        except EngineError as exc:
            log.warning("%s for run %s is stale: %s", _what(work), work.run_id, exc)
            await self._consume(work)
        except Exception as exc:
            log.exception("could not apply %s to run %s", _what(work), work.run_id)
            failures.append((work, exc))

    # ------------------------------------------------------------ after a commit

    async def _committed(self, changes: Sequence[RunChange]) -> None:
        for change in changes:
            self._remember(change.state)
        for hook in self.commit_hooks:
            hook(changes)
        if not self.listeners:
            return
        for change in changes:
            events = list(change.decision.events)
            for listener in self.listeners:
                try:
                    await listener(change.state, events)
                except Exception:
                    # A broken subscriber (a UI refresh) must not undo or block the run.
                    log.exception("run listener failed for run %s", change.state.run_id)


def _kept_changing(run_id: str, attempts: int) -> ConcurrencyConflict:
    return ConcurrencyConflict(
        f"run {run_id} kept changing while this was applied ({attempts} tries); try again"
    )


async def _outcome(action: Awaitable[RunState]) -> RunState | Exception:
    try:
        return await action
    except Exception as exc:
        return exc


def _settle(done: asyncio.Future[RunState], result: RunState | Exception) -> None:
    if done.done():  # the caller gave up; its request was applied (or not) all the same
        return
    if isinstance(result, Exception):
        done.set_exception(result)
    else:
        done.set_result(result)


def _run(change: RunChange) -> RunKey:
    return (change.state.tenant_id, change.state.run_id)


def _what(work: Work) -> str:
    return work.trigger.type
