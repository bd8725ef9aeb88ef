"""`Actor`: who asks the engine for a change, through which channel, and whether as an admin.
The decider judges every right from it; channels only say who is asking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast, get_args

from engine import principal
from engine.errors import InvalidInput
from engine.events import Channel

CHANNELS = get_args(Channel)


@dataclass(frozen=True)
class Actor:
    who: str  # a principal: a Slack user id, an email address, "system"...
    channel: str = "api"
    admin: bool = False
    # How the channel knows it is `who`, recorded with a decision: ids only, never a secret
    # (e.g. {"slack_user": "U1", "slack_team": "T1"}; {"link_nonce": ...}; {"api_key": ...}).
    proof: Mapping[str, str] | None = None


def channel_of(channel: str) -> Channel:
    """`channel` as the events record it; InvalidInput for a channel nobody knows."""
    if channel not in CHANNELS:
        raise InvalidInput({"channel": f"{channel!r} is not one of {', '.join(CHANNELS)}"})
    return cast(Channel, channel)


def identify(actor: str | Actor, channel: str, admin: bool) -> tuple[str, Channel, bool]:
    """(principal, channel, admin) of an `Actor`, or of a bare principal with the arguments."""
    if isinstance(actor, Actor):
        return principal.canonical(actor.who), channel_of(actor.channel), actor.admin
    return principal.canonical(actor), channel_of(channel), admin
