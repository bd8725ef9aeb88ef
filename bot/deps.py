"""What every listener needs, and the helpers they share (tenant, feedback to the user)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.background import Background
from bot.channel import SlackChannel
from bot.config import SlackConfig
from bot.directory import SlackDirectory
from bot.function_steps import FunctionSteps
from bot.home import HomeTab
from bot.hooks import WebHooks
from engine import Actor, EngineApi


@dataclass
class Deps:
    engine: EngineApi
    config: SlackConfig
    background: Background
    home: HomeTab
    channel: SlackChannel
    hooks: WebHooks
    directory: SlackDirectory
    function_steps: FunctionSteps  # Workflow Builder steps waiting on runs

    def is_admin(self, user: str) -> bool:
        return user in self.config.admins

    def actor(self, user: str) -> Actor:
        """`user` acting from Slack, with their role: the engine judges what it allows."""
        return Actor(user, "slack", self.is_admin(user))


async def tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """Say something to the user who clicked, only to them: an ephemeral message where they
    clicked, or a DM when they clicked in the App Home or a modal."""
    user = body["user"]["id"]
    container = body.get("container") or {}
    if container.get("type") == "message" and container.get("channel_id"):
        await client.chat_postEphemeral(channel=container["channel_id"], user=user, text=text)
        return
    await dm(client, user, text)


async def dm(client: AsyncWebClient, user: str, text: str, **message: Any) -> None:
    """A direct message from the app to `user` (`message`: blocks and the like)."""
    opened = await client.conversations_open(users=user)
    await client.chat_postMessage(channel=opened["channel"]["id"], text=text, **message)


def tenant_of(context: AsyncBoltContext) -> str:
    """The tenant is the Slack workspace the request comes from."""
    tenant = context.team_id or context.enterprise_id
    if not tenant:
        raise ValueError("a Slack request without a team id")
    return tenant


def sentence(message: str) -> str:
    """An engine message ("you are not an approver of this step") as a sentence for people."""
    text = message.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def slack_actor(body: dict[str, Any], tenant: str) -> Actor:
    """Who clicked or submitted, as Slack vouched for it (the signed or Socket Mode envelope):
    the user id and their team, recorded with a decision."""
    user = body.get("user") or {}
    team = user.get("team_id") or (body.get("team") or {}).get("id") or tenant
    who = str(user["id"])
    return Actor(who, "slack", proof={"slack_user": who, "slack_team": str(team)})
