"""The outbox dispatcher: performs commands at least once.

It claims a batch of due commands (each held by a lease, so another process skips them), performs
them concurrently through the handler registered for their type, and records the outcome. The
outcome of a command the run waits for goes back to the run as a trigger, in the same transaction
that marks the command done; the others are just marked done. A handler that cannot reach its
service (or raises) gets the command back later with a growing delay. A process that dies between
performing and recording leaves the command claimed: when the lease ends it is performed again
with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta

from engine.commands import Command, ResolveApprovers
from engine.ports import (
    Clock,
    CommandHandler,
    Failed,
    Outbox,
    OutboxItem,
    Outcome,
    Succeeded,
    Unavailable,
)
from engine.runtime.applier import RunApplier, Work
from engine.triggers import ApproversResolved, CommandFailed, CommandSucceeded, Trigger

log = logging.getLogger(__name__)

# Commands whose outcome the run waits for; the others only need doing.
FEEDBACK_COMMANDS = frozenset({"call_http", "send_notification", "resolve_approvers"})
MAX_RETRY_DELAY = 300.0


def outcome_trigger(command: Command, outcome: Succeeded | Failed) -> Trigger:
    """The trigger that tells the run how its command went."""
    if isinstance(command, ResolveApprovers):
        if isinstance(outcome, Failed):
            return ApproversResolved(
                command_key=command.key, step_id=command.step_id, approvers=[], error=outcome.error
            )
        approvers = [str(a) for a in outcome.result.get("approvers", [])]
        return ApproversResolved(
            command_key=command.key, step_id=command.step_id, approvers=approvers
        )
    if isinstance(outcome, Failed):
        return CommandFailed(command_key=command.key, error=outcome.error, reason=outcome.reason)
    return CommandSucceeded(command_key=command.key, result=outcome.result)


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
    ) -> None:
        self.outbox = outbox
        self.handlers = handlers
        self.applier = applier
        self.clock = clock
        self.batch_size = batch_size
        self.lease = lease
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Look at the outbox now (a commit just queued commands)."""
        self._wake.set()

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
            try:
                claimed = await self.dispatch_once()
            except Exception:
                log.exception("dispatching failed; trying again")
                claimed = 0
            if claimed == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_every):
                        await self._wake.wait()

    async def dispatch_once(self) -> int:
        """Claim one batch of due commands, perform them, record the outcomes. Returns how many
        commands were claimed (0: nothing was due)."""
        items = await self.outbox.claim(self.clock.now(), self.batch_size, self.lease)
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
        # Recording outcomes and marking the other commands done go to the store side by side.
        failures, _ = await asyncio.gather(
            self.applier.apply_batch([work for work, _ in works]),
            self.outbox.complete_many(done),
        )
        by_key = {item.command.key: item for _, item in works}
        for work, exc in failures:
            key = work.done_command or ""
            later.append((by_key[key], Unavailable(f"could not record the outcome: {exc}")))
        now = self.clock.now()
        for item, outcome in later:
            delay = timedelta(seconds=retry_delay(outcome, item.attempts))
            await self.outbox.retry_later(item.command.key, now + delay, outcome.error)
        return len(items)

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
