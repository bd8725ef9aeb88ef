"""The log channel: where human-facing commands go when no real channel (Slack, email) is
configured for their recipient. It writes one clear line per command and succeeds, so a run on a
bare install still moves on (an operator decides through the CLI)."""

from __future__ import annotations

import logging

from engine.commands import (
    Command,
    RequestApproval,
    RequestInput,
    RunChanged,
    SendNotification,
    UpdateApproval,
)
from engine.ports import Outcome, Succeeded

log = logging.getLogger("countersign.channels.log")


def describe(command: Command) -> str:
    """One line saying what a person would have been told, and how to act without a channel."""
    run = f"run {command.run_id}"
    if isinstance(command, RequestApproval):
        what = "reminder: " if command.kind == "reminder" else ""
        return (
            f"{what}approval of step {command.step_id!r} of {run} requested from "
            f"{command.approver} (decide with: countersign runs decide {command.run_id} "
            f"{command.step_id} approve|reject --as {command.approver})"
        )
    if isinstance(command, RequestInput):
        return f"input for step {command.step_id!r} of {run} requested from {command.assignee}"
    if isinstance(command, SendNotification):
        return f"notification to {command.to} ({run}, step {command.step_id!r}): {command.text}"
    if isinstance(command, UpdateApproval):
        return f"step {command.step_id!r} of {run} changed"
    if isinstance(command, RunChanged):
        return f"{run} is {command.status}" + (" (finished)" if command.final else "")
    return f"{command.type} for {run}"


class LogChannel:
    """A `CommandHandler` that only logs; `reason` says why no real channel took the command."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger

    async def perform(self, command: Command) -> Outcome:
        # Status changes are frequent and need nobody: keep them out of the normal log.
        level = logging.DEBUG if isinstance(command, UpdateApproval | RunChanged) else logging.INFO
        if self._log.isEnabledFor(level):
            self._log.log(level, "[%s] %s", command.tenant_id, describe(command))
        return Succeeded()
