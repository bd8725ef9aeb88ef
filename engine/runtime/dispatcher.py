"""The outbox dispatcher: performs commands at least once.

It claims a batch of due commands (each held by a lease, so another process skips them), performs
them concurrently through the handler registered for their type, and records the outcome. The
outcome of a command the run waits for goes back to the run as a trigger, in the same transaction
that marks the command done; the others are just marked done. A handler that cannot reach its
service (or raises) gets the command back later with a growing delay; one that puts the command
off to a set time (`Unavailable.retry_at`, e.g. a turn kept under a rate limit) gets it back at
that time, without the claim counting as an attempt, and the dispatcher wakes for it. A process
that dies between performing and recording leaves the command claimed: when the lease ends it is
performed again with the same idempotency key.

An outcome is cleaned before it is recorded (`engine.recordable.clean`). One that still cannot be
stored, or is not recorded after `max_attempts` claims, is given up on: the command is buried
(dead, listed by `Outbox.dead` until an operator revives it) and its step fails with the reason.

Commands committed by this process skip the claim: they are queued already leased to it
(`RunChange.commands_leased_until`) and handed over in memory by `hand_off`. The outbox is still
polled for the rest (other processes' commands, retries coming due, leases of dead processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from engine.commands import Command, ResolveApprovers
from engine.errors import Unrecordable
from engine.ports import (
    Clock,
    CommandHandler,
    Failed,
    Outbox,
    OutboxItem,
    Outcome,
    RunChange,
    Succeeded,
    Unavailable,
)
from engine.recordable import clean
from engine.runtime.applier import RunApplier, Work
from engine.triggers import ApproversResolved, CommandFailed, CommandSucceeded, Trigger

log = logging.getLogger(__name__)

# Commands whose outcome the run waits for; the others only need doing.
FEEDBACK_COMMANDS = frozenset({"call_http", "send_notification", "resolve_approvers"})
MAX_RETRY_DELAY = 300.0
# A command performed this many times without its outcome being recorded is given up on.
MAX_ATTEMPTS = 10


def outcome_trigger(command: Command, outcome: Succeeded | Failed) -> Trigger:
    """The trigger that tells the run how its command went. What the outside world answered is
    cleaned first where that is safe (lone surrogates replaced, NUL characters removed: no store
    can keep them), with a note for the run's timeline saying so."""
    cleaned = clean(outcome.error if isinstance(outcome, Failed) else outcome.result)
    if isinstance(command, ResolveApprovers):
        if isinstance(outcome, Failed):
            return ApproversResolved(
                command_key=command.key, step_id=command.step_id, approvers=[], error=cleaned.value
            )
        approvers = [str(a) for a in cleaned.value.get("approvers", [])]
        return ApproversResolved(
            command_key=command.key, step_id=command.step_id, approvers=approvers
        )
    note = f"the outcome was cleaned to be stored: {cleaned.note}" if cleaned.note else None
    if isinstance(outcome, Failed):
        return CommandFailed(
            command_key=command.key, error=cleaned.value, reason=outcome.reason, note=note
        )
    return CommandSucceeded(command_key=command.key, result=cleaned.value, note=note)


def retry_delay(outcome: Unavailable, attempts: int) -> float:
    """The handler's suggested delay, doubled for every earlier failed claim, capped."""
    return min(outcome.retry_after * 2.0 ** min(attempts, 10), MAX_RETRY_DELAY)


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        handlers: Mapping[str, CommandHandler],
        applier: RunApplier,
        clock: Clock,
        *,
        batch_size: int = 200,
        concurrency: int = 64,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.outbox = outbox
        self.max_attempts = max_attempts  # claims of a command whose outcome is not recorded
        self.handlers = handlers
        self.applier = applier
        self.clock = clock
        self.batch_size = batch_size
        self.lease = lease
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        # Leased to this process at commit, with the lease's end.
        self._handed: deque[tuple[OutboxItem, datetime]] = deque()
        self._polled_at = float("-inf")  # monotonic time of the last outbox claim
        # Commands performed whose outcome no run waits for: marked done in the background,
        # many batches' worth per statement (a crash before that only repeats them).
        self._done: list[str] = []
        self._completer: asyncio.Task[None] | None = None
        self._must_poll = True  # look at the outbox on the next pass, whatever the time
        self._put_off: list[datetime] = []  # (a heap) when put-off commands come due

    def wake(self) -> None:
        """Look at the outbox now (a commit just queued commands)."""
        self._must_poll = True
        self._wake.set()

    def hand_off(self, changes: Sequence[RunChange]) -> None:
        """Commands of committed changes that were queued leased to this process: perform them
        without claiming them again (a commit hook)."""
        if not any(change.decision.commands for change in changes):
            return
        for change in changes:
            leased_until = change.commands_leased_until
            if leased_until is None:
                self._must_poll = self._must_poll or bool(change.decision.commands)
                continue
            for command in change.decision.commands:
                self._handed.append((OutboxItem(0, command, 0), leased_until))
        self._wake.set()

    def _take_handed(self, now: datetime) -> list[OutboxItem]:
        """Up to a batch of handed-over commands whose lease still holds. One whose lease ran
        out (a backlog longer than the lease) may be claimed by another process by now: it is
        left to the outbox claim, so it is performed by whoever claims it, not by both."""
        taken: list[OutboxItem] = []
        while self._handed and len(taken) < self.batch_size:
            item, leased_until = self._handed.popleft()
            if leased_until > now:
                taken.append(item)
            else:
                self._must_poll = True
        return taken

    async def release(self) -> None:
        """At shutdown: record what was performed, and give back the handed-over commands not
        performed yet, so another process (or the next start) claims them at once instead of
        after the lease."""
        await self.flush()
        now = self.clock.now()
        while self._handed:
            item, leased_until = self._handed.popleft()
            if leased_until > now:  # else it is anyone's to claim already
                await self.outbox.retry_later(item.command.key, now, "not performed before a stop")

    def stop(self) -> None:
        """Let `run` return after the batch in hand is recorded."""
        self._stopping = True
        self._wake.set()

    def resume(self) -> None:
        """Allow `run` again after a `stop`."""
        self._stopping = False

    async def run(self, poll_every: float) -> None:
        """Dispatch until stopped: at once while there is work or a wake-up, otherwise every
        `poll_every` seconds (commands queued by other processes, retries come due)."""
        while not self._stopping:
            self._wake.clear()
            self._poll_if_put_off_due()
            # Handed-over commands need no outbox read: poll only when told to or when due.
            poll = self._must_poll or time.monotonic() - self._polled_at >= poll_every
            self._must_poll = False
            try:
                claimed = await self.dispatch_once(poll=poll)
            except Exception:
                log.exception("dispatching failed; trying again")
                claimed = 0
            if claimed == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_wait(poll_every)):
                        await self._wake.wait()

    async def dispatch_once(self, *, poll: bool = True) -> int:
        """Take the handed-over commands and (with `poll`) claim due ones from the outbox up to
        a batch, perform them, record the outcomes. Returns how many commands were taken (0:
        nothing was due)."""
        items = self._take_handed(self.clock.now())
        room = self.batch_size - len(items)
        if (poll or self._must_poll) and room:
            self._must_poll = False
            self._polled_at = time.monotonic()
            now = self.clock.now()
            while self._put_off and self._put_off[0] <= now:  # this claim takes them
                heapq.heappop(self._put_off)
            claimed = await self.outbox.claim(now, room, self.lease)
            # A full claim: more may be due already.
            self._must_poll = self._must_poll or len(claimed) == room
            items += claimed
        if not items:
            return 0
        outcomes = await asyncio.gather(*(self._perform(item) for item in items))
        works: list[tuple[Work, OutboxItem]] = []
        done: list[str] = []
        later: list[tuple[OutboxItem, Unavailable]] = []
        for item, outcome in zip(items, outcomes, strict=True):
            command = item.command
            if isinstance(outcome, Unavailable):
                later.append((item, outcome))
            elif command.type in FEEDBACK_COMMANDS:
                work = Work(
                    command.tenant_id,
                    command.run_id,
                    outcome_trigger(command, outcome),
                    done_command=command.key,
                )
                works.append((work, item))
            else:
                if isinstance(outcome, Failed):
                    log.warning("%s %s failed: %s", command.type, command.key, outcome.error)
                done.append(command.key)
        self._complete_later(done)
        failures = await self.applier.apply_batch([work for work, _ in works])
        by_key = {item.command.key: item for _, item in works}
        for work, exc in failures:
            item = by_key[work.done_command or ""]
            if isinstance(exc, Unrecordable):  # it would fail the same way every time
                await self._give_up(item, f"its outcome cannot be stored: {exc.message}")
            elif item.attempts + 1 >= self.max_attempts:
                await self._give_up(
                    item,
                    f"its outcome could not be recorded ({item.attempts + 1} attempts): {exc}",
                )
            else:
                later.append((item, Unavailable(f"could not record the outcome: {exc}")))
        now = self.clock.now()
        for item, outcome in later:
            if outcome.retry_at is not None:  # put off, not failed
                await self.outbox.retry_later(
                    item.command.key, outcome.retry_at, outcome.error, counted=False
                )
                heapq.heappush(self._put_off, outcome.retry_at)
                continue
            delay = timedelta(seconds=retry_delay(outcome, item.attempts))
            await self.outbox.retry_later(item.command.key, now + delay, outcome.error)
        return len(items)

    def _poll_if_put_off_due(self) -> None:
        """A put-off command is due: claim from the outbox on this pass, not at the next poll."""
        if self._put_off and self._put_off[0] <= self.clock.now():
            self._must_poll = True

    def idle_wait(self, poll_every: float) -> float:
        """How long an idle dispatcher waits for a wake-up: until the next poll, or sooner when
        a put-off command comes due then."""
        if not self._put_off:
            return poll_every
        due_in = (self._put_off[0] - self.clock.now()).total_seconds()
        return max(0.0, min(poll_every, due_in))

    async def _give_up(self, item: OutboxItem, reason: str) -> None:
        """A command whose outcome cannot be recorded: it is buried (listed for operators, never
        performed again unless one retries it), and its step fails with `reason` instead, so
        the run goes on and its timeline says why. If even that cannot be recorded, the run is
        left as it is, and the dead command says why."""
        command = item.command
        log.error("giving up on %s %s: %s", command.type, command.key, reason)
        await self.outbox.bury(command.key, self.clock.now(), reason)
        work = Work(
            command.tenant_id, command.run_id, outcome_trigger(command, Failed(reason))
        )  # no done_command: the command stays dead, not done
        for _, exc in await self.applier.apply_batch([work]):
            log.error("could not fail run %s's step either: %s", command.run_id, exc)
            await self.outbox.bury(command.key, self.clock.now(), f"{reason}; failing it: {exc}")

    def _complete_later(self, keys: list[str]) -> None:
        self._done += keys
        if self._done and self._completer is None:
            self._completer = asyncio.create_task(self._complete())

    async def _complete(self) -> None:
        try:
            while self._done:
                keys, self._done = self._done, []
                try:
                    await self.outbox.complete_many(keys)
                except Exception:
                    # Still claimed: performed again once the lease ends (at least once).
                    log.exception("could not mark %d performed commands done", len(keys))
        finally:
            self._completer = None

    async def flush(self) -> None:
        """Wait until every performed command is marked done (at stop, and in tests)."""
        while self._completer is not None:
            await asyncio.shield(self._completer)

    async def _perform(self, item: OutboxItem) -> Outcome:
        command = item.command
        handler = self.handlers.get(command.type)
        if handler is None:
            log.error("no handler is registered for %s; %s waits", command.type, command.key)
            return Unavailable(f"no handler is registered for {command.type}", retry_after=30.0)
        async with self._slots:
            try:
                outcome = await handler.perform(command)
            except Exception as exc:
                log.exception("%s %s raised; it will be tried again", command.type, command.key)
                return Unavailable(f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Unavailable):
            log.warning(
                "%s %s could not be performed (%s); retrying",
                command.type,
                command.key,
                outcome.error,
            )
        return outcome
