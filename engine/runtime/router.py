"""Routes the human-facing commands to the channel that reaches their recipient.

A recipient (principal, as `engine.principal` reads it) is a Slack user or channel ("U…", "W…",
"C…", "G…", "#name") or an email address ("email:addr" or a bare address). Commands that name
nobody (update_approval, run_changed) go to every registered channel, each of which knows what it
showed. A recipient whose channel is not registered gets the log channel, so nothing is ever
silently dropped.
"""

from __future__ import annotations

import asyncio

from engine import principal
from engine.commands import (
    AnswerDelivered,
    AskQuestion,
    Command,
    CompleteSlackStep,
    RequestApproval,
    RequestInput,
    RunChanged,
    SendNotification,
    UpdateApproval,
)
from engine.ports import CommandHandler, Failed, Outcome, Succeeded, Unavailable
from engine.runtime.log_channel import LogChannel

ROUTED_COMMANDS = (
    "request_approval",
    "update_approval",
    "request_input",
    "send_notification",
    "run_changed",
    "ask_question",
    "answer_delivered",
    "complete_slack_step",
)


def channel_for(to: str) -> str | None:
    """ "slack", "email", or None when the principal names neither."""
    found = principal.find(to)
    # An operator (cli:NAME) is reached on the dashboard and the CLI only: the log channel notes it.
    if found is None or found.kind in ("group", "system", "operator"):
        return None
    return "email" if found.kind == "email" else "slack"


def recipient(command: Command) -> str | None:
    if isinstance(command, RequestApproval):
        return command.approver
    if isinstance(command, RequestInput):
        return command.assignee
    if isinstance(command, SendNotification | AskQuestion | AnswerDelivered):
        return command.to
    return None


class ChannelRouter:
    """A `CommandHandler` for the commands in ROUTED_COMMANDS; register it under each of them."""

    def __init__(self, fallback: CommandHandler | None = None) -> None:
        self._channels: dict[str, CommandHandler] = {}
        self._fallback: CommandHandler = fallback or LogChannel()

    def register(self, channel: str, handler: CommandHandler) -> None:
        """Make `handler` perform the commands for `channel` ("slack", "email", ...)."""
        self._channels[channel] = handler

    async def perform(self, command: Command) -> Outcome:
        if isinstance(command, UpdateApproval | RunChanged):
            return await self._broadcast(command)
        if isinstance(command, CompleteSlackStep):
            # Only Slack can finish its step: without it the command waits (never the log).
            slack = self._channels.get("slack")
            if slack is None:
                return Unavailable("Slack is not connected", retry_after=30.0)
            return await slack.perform(command)
        routed = RequestApproval | RequestInput | SendNotification | AskQuestion | AnswerDelivered
        if not isinstance(command, routed):
            raise TypeError(f"the channel router does not route {command.type}")
        to = recipient(command) or ""
        channel = channel_for(to)
        handler = self._channels.get(channel) if channel else None
        return await (handler or self._fallback).perform(command)

    async def _broadcast(self, command: Command) -> Outcome:
        handlers = list(self._channels.values()) or [self._fallback]
        if len(handlers) == 1:
            return await handlers[0].perform(command)
        outcomes = await asyncio.gather(*(h.perform(command) for h in handlers))
        # Every channel is idempotent on the command key, so redoing all of them is harmless.
        unavailable = [o for o in outcomes if isinstance(o, Unavailable)]
        if unavailable:
            error = "; ".join(o.error for o in unavailable)
            put_off = [o.retry_at for o in unavailable if o.retry_at is not None]
            if len(put_off) == len(unavailable):  # only put off: back when the last may go
                return Unavailable(error, retry_at=max(put_off))
            return Unavailable(error, max(o.retry_after for o in unavailable))
        failed = [o for o in outcomes if isinstance(o, Failed)]
        if failed:
            return Failed("; ".join(o.error for o in failed), failed[0].reason)
        return Succeeded()
