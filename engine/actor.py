"""`Actor`: who asks the engine for a change, through which channel, and whether as an admin.
The decider judges every right from it; channels only say who is asking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    who: str  # a principal: a Slack user id, an email address, "system"...
    channel: str = "api"
    admin: bool = False
    # How the channel knows it is `who`, recorded with a decision: ids only, never a secret
    # (e.g. {"slack_user": "U1", "slack_team": "T1"}; {"link_nonce": ...}; {"api_key": ...}).
    proof: Mapping[str, str] | None = None
