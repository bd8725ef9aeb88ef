"""The Slack `Directory`: user groups and email addresses resolved through the Web API."""

from __future__ import annotations

import re

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clients import SlackClients
from engine.errors import EngineError

_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s]+$")


class SlackDirectory:
    """User ids stay; a user group (S…) becomes its members (usergroups.users.list); an email
    address becomes the Slack user who has it (users.lookupByEmail), or "email:addr" for someone
    outside the workspace, who is then asked by email."""

    def __init__(self, clients: SlackClients) -> None:
        self._clients = clients

    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        out: list[str] = []
        for raw in specs:
            spec = raw.strip()
            if _USER.match(spec):
                out.append(spec)
            elif _GROUP.match(spec):
                out.extend(await self._group(await self._clients.for_tenant(tenant_id), spec))
            elif _EMAIL.match(spec.removeprefix("email:")):
                client = await self._clients.for_tenant(tenant_id)
                out.append(await self._email(client, spec.removeprefix("email:").lower()))
            else:
                raise EngineError(
                    f"approver {spec!r} is not a Slack user id (U…), a user group (S…) "
                    "or an email address"
                )
        return list(dict.fromkeys(out))

    async def _group(self, client: AsyncWebClient, group: str) -> list[str]:
        try:
            response = await client.usergroups_users_list(usergroup=group)
        except SlackApiError as e:
            if e.response.get("error") == "no_such_subteam":
                raise EngineError(f"user group {group} does not exist in this workspace") from e
            raise
        members = [str(u) for u in response.get("users") or []]
        if not members:
            raise EngineError(f"user group {group} has no members")
        return members

    async def _email(self, client: AsyncWebClient, address: str) -> str:
        try:
            response = await client.users_lookupByEmail(email=address)
        except SlackApiError as e:
            if e.response.get("error") == "users_not_found":
                return "email:" + address
            raise
        return str(response["user"]["id"])
