"""`Actor`: who asks the engine for a change, through which channel, and whether as an admin.
The decider judges every right from it; channels only say who is asking."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    who: str  # a principal: a Slack user id, an email address, "system"...
    channel: str = "api"
    admin: bool = False
