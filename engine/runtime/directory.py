"""Performs `resolve_approvers`: turns approver specs into principals through a `Directory`.

Slack supplies a real directory (user groups, users.lookupByEmail). Without Slack the built-in one
maps what needs no lookup and refuses user groups with a message saying what is missing.
"""

from __future__ import annotations

import re

from engine.commands import Command, ResolveApprovers
from engine.errors import EngineError
from engine.ports import Directory, Failed, Outcome, Succeeded

_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL = re.compile(r"^(?:[CG][A-Z0-9]{2,}|#[\w.-]+)$")
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s]+$")


class BuiltinDirectory:
    """The `Directory` used until Slack is connected: user ids stay as they are, emails become
    "email:addr", user groups are refused."""

    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        out: list[str] = []
        for raw in specs:
            spec = raw.strip()
            if _USER.match(spec):
                out.append(spec)
            elif spec.startswith("email:") and _EMAIL.match(spec[6:]):
                out.append(spec.lower())
            elif _EMAIL.match(spec):
                out.append("email:" + spec.lower())
            elif _GROUP.match(spec):
                raise EngineError(f"user group {spec} needs Slack to be connected")
            elif _CHANNEL.match(spec):
                raise EngineError(f"the members of channel {spec} need Slack to be connected")
            else:
                raise EngineError(
                    f"approver {spec!r} is not a Slack user id (U…), a user group (S…) "
                    "or an email address"
                )
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
        except EngineError as exc:
            return Failed(exc.message)
        return Succeeded({"approvers": list(dict.fromkeys(principals))})
