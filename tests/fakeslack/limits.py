"""Slack's published Web API rate limits, enforced by the fake when a test or bench asks for them.

Slack limits each method per app per workspace by tier (https://api.slack.com/apis/rate-limits):
Tier 1 1+ per minute, Tier 2 20+, Tier 3 50+, Tier 4 100+, each "allowing bursts"; and
chat.postMessage (special) about 1 message per second per channel, "short bursts >1 allowed".
Slack publishes the rates but not the bursts; the fake models each limit as a token bucket
refilled at the published rate and holding `BURST_SECONDS` of it (at least one call), and
posting as a bucket per channel refilled at 1 per second holding `POST_BURST` messages.

A call over a limit is answered HTTP 429 `{"ok": false, "error": "ratelimited"}` with a
`Retry-After` header in whole seconds (as Slack sends it), and does not take a token. `speed`
scales every rate (and shortens Retry-After) so a test sees the same behaviour in less time; the
bench uses speed 1, Slack's own rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
BURST_SECONDS = 6.0  # each tier bucket holds 6 s of its rate: Tier 3 5 calls, Tier 4 10
POST_PER_SECOND = 1.0
POST_BURST = 3

# Each method's tier, from its page on api.slack.com ("Rate limits" in the method's facts).
# Methods not listed are not limited by the fake.
TIER = {
    "apps.connections.open": 1,
    "auth.test": 4,  # "special", generous
    "chat.delete": 3,
    "chat.getPermalink": 4,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "conversations.history": 3,
    "conversations.info": 3,
    "conversations.list": 2,
    "conversations.members": 4,
    "conversations.open": 3,
    "team.info": 3,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.publish": 4,
    "views.push": 4,
    "views.update": 4,
}
POST = "chat.postMessage"


@dataclass
class Bucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float = field(init=False)
    at: float = float("-inf")

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float) -> float:
        """0 when a token was taken; else the seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Limit:
    """One limit: its name (a method, or "chat.postMessage to C123"), rate and burst."""

    name: str
    rate: float  # calls per second at speed 1
    burst: float

    def minimum_seconds(self, calls: int) -> float:
        """The least time `calls` calls can take under this limit, starting with a full bucket."""
        return max(0.0, (calls - self.burst) / self.rate)


def limit_of(method: str, args: dict[str, Any], team: str) -> Limit | None:
    """The limit a call falls under (None: not limited). Posting is limited per channel."""
    if method == POST:
        channel = str(args.get("channel", ""))
        return Limit(f"{team} {POST} to {channel}", POST_PER_SECOND, POST_BURST)
    tier = TIER.get(method)
    if tier is None:
        return None
    rate = PER_MINUTE[tier] / 60
    return Limit(f"{team} {method}", rate, max(1.0, rate * BURST_SECONDS))


class RateLimits:
    """The fake's buckets; `check` takes a token or says how long to wait (whole seconds)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._buckets: dict[str, Bucket] = {}

    def check(self, limit: Limit, now: float) -> int:
        bucket = self._buckets.get(limit.name)
        if bucket is None:
            bucket = self._buckets[limit.name] = Bucket(limit.rate * self.speed, limit.burst)
        wait = bucket.take(now)
        return math.ceil(wait) if wait > 0 else 0
