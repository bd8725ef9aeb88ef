"""Performs `resolve_approvers`: turns approver specs into principals through a `Directory`.

Slack supplies a real directory (user groups, users.lookupByEmail). Without Slack the built-in one
maps what needs no lookup and refuses user groups with a message saying what is missing.
"""

from __future__ import annotations

from engine import principal
from engine.commands import Command, ResolveApprovers
from engine.errors import EngineError
from engine.ports import Directory, Failed, Outcome, Succeeded


class BuiltinDirectory:
    """The `Directory` used until Slack is connected: user ids stay as they are, emails become
    "email:addr", user groups and channels are refused."""

    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        out: list[str] = []
        for raw in specs:
            found = principal.parse(raw, principal.APPROVER_KINDS, "approver")
            if found.kind == "group":
                raise EngineError(f"user group {found} needs Slack to be connected")
            if found.kind == "channel":
                raise EngineError(f"the members of channel {found} need Slack to be connected")
            out.append(found.id)
        return out

    async def time_zone(self, tenant_id: str, user: str) -> str | None:
        return None  # unknown without Slack: the default zone applies


class ResolveApproversHandler:
    """The `CommandHandler` for `resolve_approvers`. A directory error (unknown group, no Slack)
    is a permanent failure the step reports; any other exception means the directory could not be
    reached, and the dispatcher retries."""

    def __init__(self, directory: Directory | None = None) -> None:
        self.directory: Directory = directory or BuiltinDirectory()

    async def perform(self, command: Command) -> Outcome:
        if not isinstance(command, ResolveApprovers):
            raise TypeError(f"resolve_approvers handler got {command.type}")
        try:
            principals = await self.directory.resolve(command.tenant_id, list(command.specs))
        except EngineError as exc:  # PrincipalError included
            return Failed(exc.message)
        return Succeeded({"approvers": list(dict.fromkeys(principals))})
