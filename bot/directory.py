"""The Slack `Directory`: user groups and email addresses resolved through the Web API, and what
Slack knows of a person (their email for the fallback channel, their time zone for reminders)."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clients import SlackClients
from engine import EngineError, principal

PROFILE_TTL = 3600.0  # seconds a users.info answer is reused (time zones rarely change)


class SlackDirectory:
    """User ids stay; a user group (S…) becomes its members (usergroups.users.list); a channel
    (an escalation level such as "#approvals") becomes its members (conversations.members), who
    decide from the one card posted there; an email address becomes the Slack user who has it
    (users.lookupByEmail), or "email:addr" for someone outside the workspace, asked by email."""

    def __init__(self, clients: SlackClients) -> None:
        self._clients = clients
        # (tenant, user) -> the address they were named by: kept even if Slack forgets them
        self._emails: dict[tuple[str, str], str] = {}
        self._profiles: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._channel_ids: dict[tuple[str, str], str] = {}  # (tenant, "#name") -> C…
        self._bots: dict[str, str] = {}  # tenant -> the bot's own user id

    def is_channel(self, spec: str) -> bool:
        return principal.is_kind(spec, "channel")

    async def channel_id(self, tenant_id: str, spec: str) -> str:
        """A channel's id from its id or "#name" (conversations.list, cached)."""
        if not spec.startswith("#"):
            return spec
        name = spec.removeprefix("#").lower()
        if (tenant_id, name) not in self._channel_ids:
            client = await self._clients.for_tenant(tenant_id)
            pages = await client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=1000
            )
            async for page in pages:
                for found in page.get("channels") or []:
                    self._channel_ids[(tenant_id, str(found["name"]))] = str(found["id"])
        if (tenant_id, name) not in self._channel_ids:
            raise EngineError(
                f"channel {spec} was not found: check the name, and for a private channel "
                "invite Countersign to it (/invite @Countersign)"
            )
        return self._channel_ids[(tenant_id, name)]

    async def _channel_members(self, tenant_id: str, spec: str) -> list[str]:
        """The people in a channel (an escalation level given as a channel): any of them may
        decide from the card posted there."""
        channel = await self.channel_id(tenant_id, spec)
        client = await self._clients.for_tenant(tenant_id)
        members: list[str] = []
        try:
            async for page in await client.conversations_members(channel=channel, limit=1000):
                members.extend(str(m) for m in page.get("members") or [])
        except SlackApiError as e:
            if e.response.get("error") in ("channel_not_found", "not_in_channel"):
                raise EngineError(
                    f"channel {spec} is not one Countersign can see: invite it there "
                    "(/invite @Countersign)"
                ) from e
            raise
        if tenant_id not in self._bots:
            self._bots[tenant_id] = str((await client.auth_test())["user_id"])
        people = [m for m in members if m != self._bots[tenant_id]]
        if not people:
            raise EngineError(f"channel {spec} has nobody in it who could decide")
        return people

    async def email_of(self, tenant_id: str, user: str) -> str | None:
        """The person's email address: the one they were named by, else their Slack profile's
        (users.info; a deactivated account still has one). None when nobody knows it."""
        known = self._emails.get((tenant_id, user))
        if known:
            return known
        profile = await self._profile(tenant_id, user)
        email = (profile or {}).get("profile", {}).get("email")
        return str(email).lower() if email else None

    async def time_zone(self, tenant_id: str, user: str) -> str | None:
        """The IANA time zone of a Slack user (users.info `tz`), None for anyone else."""
        if not principal.is_kind(user, "user"):
            return None
        profile = await self._profile(tenant_id, user)
        tz = (profile or {}).get("tz")
        return str(tz) if tz else None

    async def _profile(self, tenant_id: str, user: str) -> dict[str, Any] | None:
        """users.info, cached; None for someone Slack does not know."""
        cached = self._profiles.get((tenant_id, user))
        if cached and time.monotonic() - cached[0] < PROFILE_TTL:
            return cached[1]
        client = await self._clients.for_tenant(tenant_id)
        try:
            response = await client.users_info(user=user)
        except SlackApiError as e:
            if e.response.get("error") in ("user_not_found", "user_not_visible"):
                return cached[1] if cached else None
            raise
        profile: dict[str, Any] = dict(response["user"])
        self._profiles[(tenant_id, user)] = (time.monotonic(), profile)
        return profile

    async def resolve(self, tenant_id: str, specs: list[str]) -> list[str]:
        out: list[str] = []
        for raw in specs:
            found = principal.parse(raw, principal.APPROVER_KINDS, "approver")
            if found.kind in ("user", "operator"):
                out.append(found.id)
            elif found.kind == "group":
                client = await self._clients.for_tenant(tenant_id)
                out.extend(await self._group(client, found.id))
            elif found.address is not None:
                client = await self._clients.for_tenant(tenant_id)
                person = await self._email(client, found.address)
                if person != found.id:
                    self._emails[(tenant_id, person)] = found.address
                out.append(person)
            else:
                out.extend(await self._channel_members(tenant_id, found.id))
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
