"""One slash command as the command handlers see it. Its own module so that `commands` (the
dispatcher) and `handoff_commands` both import it without importing each other."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps


class Request:
    """One slash command: who, where, what, and how to answer."""

    def __init__(
        self,
        deps: Deps,
        command: dict[str, Any],
        tenant: str,
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        self.deps = deps
        self.engine = deps.engine
        self.user = str(command["user_id"])
        self.trigger_id = str(command.get("trigger_id", ""))
        self.args = str(command.get("text") or "").split()[1:]
        self.tenant = tenant
        self._respond = respond
        self.client = client  # Bolt's client for the workspace the command came from

    async def say(self, text: str, blocks: list[Block] | None = None) -> None:
        await self._respond(
            text=text, blocks=blocks, response_type="ephemeral", replace_original=False
        )
